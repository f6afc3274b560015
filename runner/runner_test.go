package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/requirement"
)

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // the option of the *OptionError; "" means valid
	}{
		{name: "zero value", opts: Options{}},
		{name: "negative parallel", opts: Options{Parallel: -1}, want: "Parallel"},
		{name: "negative timeout", opts: Options{Timeout: -time.Second}, want: "Timeout"},
		{name: "negative output limit", opts: Options{OutputLimit: -5}, want: "OutputLimit"},
		{name: "negative output budget", opts: Options{OutputBudget: -1}, want: "OutputBudget"},
		{name: "negative QPS", opts: Options{QPS: -1}, want: "QPS"},
		{name: "unknown phase", opts: Options{Phase: "deploy"}, want: "Phase"},
		{name: "upgrade", opts: Options{Phase: Upgrade}},
		{name: "post-install", opts: Options{Phase: PostInstall}},
		{name: "post-upgrade", opts: Options{Phase: PostUpgrade}},
		{name: "post phase spelt with an underscore", opts: Options{Phase: "post_upgrade"}, want: "Phase"},
		{name: "versions", opts: Options{AppVersion: "2.0.0", PreviousVersion: "1.9.0-rc.1+build.5"}},
		{name: "versions with a leading v", opts: Options{AppVersion: "v2.0.0", PreviousVersion: "v1.9.0"}},
		{name: "app version not semver", opts: Options{AppVersion: "2.0"}, want: "AppVersion"},
		{name: "previous version with a capital V", opts: Options{PreviousVersion: "V1.9.0"}, want: "PreviousVersion"},
		{name: "previous version with a leading zero", opts: Options{PreviousVersion: "1.09.0"}, want: "PreviousVersion"},
		{name: "previous version with spaces", opts: Options{PreviousVersion: " 1.9.0"}, want: "PreviousVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var oe *OptionError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, tt.want, oe.Option)
			assert.Contains(t, err.Error(), "runner options: "+tt.want+" ")
		})
	}
}

func TestRunRejectsBadInputBeforeRunning(t *testing.T) {
	var ran atomic.Int32
	count := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		ran.Add(1)
		return &command.Result{Outputs: []command.Output{{}}}, nil
	})
	tests := []struct {
		name string
		opts Options
		spec *requirement.Spec
		want string
	}{
		{name: "nil spec", want: "spec is nil"},
		{name: "unknown ack", opts: Options{Acknowledge: []string{"nope"}},
			spec: spec(newReq("a", count)), want: `Acknowledge "nope": the spec has no requirement with that id`},
		{name: "strict ack", opts: Options{Acknowledge: []string{"a"}},
			spec: spec(newReq("a", count, strict)), want: `Acknowledge "a": the requirement is strict`},
		{name: "unknown warning ack", opts: Options{AcknowledgeWarnings: []string{"x"}},
			spec: spec(newReq("a", count)), want: `AcknowledgeWarnings "x": the spec has no requirement with that id`},
		{name: "duplicate id", spec: spec(newReq("a", count), newReq("a", count)), want: `"a": id used twice`},
		{name: "unknown dependency", spec: spec(newReq("a", count, dependsOn("b"))), want: `depends_on names "b"`},
		{name: "cycle", spec: spec(newReq("a", count, dependsOn("c")), newReq("b", count, dependsOn("a")), newReq("c", count, dependsOn("b"))),
			want: "cycle: a -> c -> b -> a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.opts)
			require.NoError(t, err)
			checked := r.Check(tt.spec)
			require.Error(t, checked, "Check refuses what Run refuses")
			d, err := r.Run(context.Background(), tt.spec)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, err.Error(), checked.Error())
			assert.Zero(t, ran.Load(), "nothing runs when the input is bad")
		})
	}
}

func TestGate(t *testing.T) {
	r := func(st Status, strict, ack bool) RequirementResult {
		return RequirementResult{ID: "x", Status: st, Strict: strict, Acknowledged: ack}
	}
	tests := []struct {
		name string
		in   []RequirementResult
		want Gate
	}{
		{"empty", nil, GatePass},
		{"all pass or skipped", []RequirementResult{r(StatusPass, true, false), r(StatusSkipped, true, false)}, GatePass},
		{"warn", []RequirementResult{r(StatusPass, false, false), r(StatusWarn, false, false)}, GateNeedsAck},
		{"fail", []RequirementResult{r(StatusFail, false, false)}, GateNeedsAck},
		{"not run", []RequirementResult{r(StatusNotRun, false, false)}, GateNeedsAck},
		{"acknowledged fail", []RequirementResult{r(StatusFail, false, true), r(StatusWarn, false, true)}, GatePass},
		{"strict fail", []RequirementResult{r(StatusWarn, false, false), r(StatusFail, true, false)}, GateBlocked},
		{"strict not run", []RequirementResult{r(StatusNotRun, true, false)}, GateBlocked},
		{"strict warn", []RequirementResult{r(StatusWarn, true, false)}, GateNeedsAck},
		{"strict warn acknowledged", []RequirementResult{r(StatusWarn, true, true)}, GatePass},
		{"strict fail marked acknowledged still blocks", []RequirementResult{r(StatusFail, true, true)}, GateBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, computeGate(tt.in))
		})
	}
}

func TestStatusesAndAcknowledgments(t *testing.T) {
	s := spec(
		newReq("pass", exit(0)),
		newReq("warn", exit(2)),
		newReq("fail", exit(1)),
		newReq("cmd-error", failing("boom")),
		newReq("strict-pass", exit(0), strict),
		newReq("strict-warn", exit(2), strict),
	)
	type row struct {
		ID           string
		Status       Status
		Message      string
		Error        string
		Acknowledged bool
	}
	summary := func(d *Decision) []row {
		var out []row
		for _, r := range d.Requirements {
			out = append(out, row{r.ID, r.Status, r.Message, r.Error, r.Acknowledged})
		}
		return out
	}

	d := mustRun(t, Options{}, s)
	assert.Equal(t, GateNeedsAck, d.Gate)
	assert.Empty(t, cmp.Diff([]row{
		{"pass", StatusPass, "ok", "", false},
		{"warn", StatusWarn, "meh", "", false},
		{"fail", StatusFail, "bad", "", false},
		{"cmd-error", StatusFail, "could not check", "boom", false},
		{"strict-pass", StatusPass, "ok", "", false},
		{"strict-warn", StatusWarn, "meh", "", false},
	}, summary(d)))
	assert.Equal(t, []string{"warn", "fail", "cmd-error", "strict-warn"}, d.NeedsAck())
	assert.Equal(t, 1, *byID(d, "fail").StatusCode)
	assert.Equal(t, command.CodeGeneralError, *byID(d, "cmd-error").StatusCode)
	assert.Equal(t, 1, byID(d, "pass").Attempts)

	// Acknowledging everything the decision asks for lets the gate pass, statuses unchanged.
	d = mustRun(t, Options{Acknowledge: []string{"warn", "fail", "cmd-error", "pass"}, AcknowledgeWarnings: []string{"strict-warn"}}, s)
	assert.Equal(t, GatePass, d.Gate)
	assert.Empty(t, d.NeedsAck())
	assert.Empty(t, cmp.Diff([]row{
		{"pass", StatusPass, "ok", "", false},
		{"warn", StatusWarn, "meh", "", true},
		{"fail", StatusFail, "bad", "", true},
		{"cmd-error", StatusFail, "could not check", "boom", true},
		{"strict-pass", StatusPass, "ok", "", false},
		{"strict-warn", StatusWarn, "meh", "", true},
	}, summary(d)))
	for _, r := range d.Requirements {
		if !r.Acknowledged {
			assert.Nil(t, r.Acknowledgment, r.ID)
			continue
		}
		require.NotNil(t, r.Acknowledgment, "%s: an acknowledgment is recorded", r.ID)
		assert.Empty(t, r.Acknowledgment.By, "given with the options: nobody named")
		assert.WithinDuration(t, time.Now(), r.Acknowledgment.At, time.Minute)
		assert.Equal(t, r.ID == "strict-warn", r.Acknowledgment.Warning, "%s: accepted as a warning only", r.ID)
	}
	plain, err := New(Options{})
	require.NoError(t, err)
	require.NoError(t, plain.Check(s), "a good spec passes Check")

	// AcknowledgeWarnings does not accept failures.
	d = mustRun(t, Options{AcknowledgeWarnings: []string{"fail", "warn", "cmd-error", "strict-warn"}}, s)
	assert.Equal(t, GateNeedsAck, d.Gate)
	assert.Equal(t, []string{"fail", "cmd-error"}, d.NeedsAck())

	// A strict failure blocks.
	d = mustRun(t, Options{}, spec(newReq("a", exit(0)), newReq("b", exit(1), strict)))
	assert.Equal(t, GateBlocked, d.Gate)
	assert.True(t, d.Blocked())
	assert.Empty(t, d.NeedsAck(), "a strict failure cannot be acknowledged")
}

func TestTimeout(t *testing.T) {
	d := mustRun(t, Options{}, spec(newReq("slow", blocking(), timeout(30*time.Millisecond))))
	r := d.Requirements[0]
	assert.Equal(t, StatusFail, r.Status)
	require.NotNil(t, r.StatusCode)
	assert.Equal(t, command.CodeTimeout, *r.StatusCode)
	assert.Equal(t, "timed out after 30ms", r.Error)
	assert.Equal(t, "could not check", r.Message, "the error result matched")
	assert.Equal(t, GateNeedsAck, d.Gate)
}

func TestCommandErrorKeepsItsWordsOnTimeout(t *testing.T) {
	run := command.RunFunc(func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("pod pending: 0/3 nodes are available: %w", ctx.Err())
	})
	d := mustRun(t, Options{}, spec(newReq("pod", run, timeout(20*time.Millisecond))))
	assert.Equal(t, "timed out after 20ms: pod pending: 0/3 nodes are available: context deadline exceeded", d.Requirements[0].Error)
	assert.Equal(t, command.CodeTimeout, *d.Requirements[0].StatusCode)
}

func TestNoTimeout(t *testing.T) {
	run := command.RunFunc(func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		if _, ok := ctx.Deadline(); ok {
			return &command.Result{Outputs: []command.Output{{StatusCode: 1}}}, nil
		}
		return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
	})
	d := mustRun(t, Options{}, spec(newReq("a", run, timeout(0))))
	assert.Equal(t, StatusPass, d.Requirements[0].Status, "timeout 0 gives the command no deadline")
}

func TestRunTimeout(t *testing.T) {
	reqs := []*requirement.Requirement{newReq("first", blocking(), timeout(0))}
	for i := range 3 {
		reqs = append(reqs, newReq(fmt.Sprintf("later-%d", i), exit(0)))
	}
	r, err := New(Options{Parallel: 1, Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	d, err := r.Run(context.Background(), spec(reqs...))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var ie *InterruptedError
	require.ErrorAs(t, err, &ie)
	assert.EqualError(t, ie.Cause, "run timed out after 50ms")
	assert.Contains(t, err.Error(), "run timed out after 50ms")
	assert.Equal(t, GateBlocked, d.Gate)
	assert.Equal(t, err.Error(), d.Error)
	assert.Equal(t, StatusFail, d.Requirements[0].Status)
	assert.Equal(t, command.CodeTimeout, *d.Requirements[0].StatusCode)
	for _, rr := range d.Requirements[1:] {
		assert.Equal(t, StatusFail, rr.Status, rr.ID)
		assert.Equal(t, "not started: run timed out after 50ms", rr.Error, rr.ID)
	}
}

func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started sync.WaitGroup
	started.Add(2)
	run := command.RunFunc(func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		started.Done()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	var reqs []*requirement.Requirement
	for i := range 6 {
		reqs = append(reqs, newReq(fmt.Sprintf("r%d", i), run, timeout(0)))
	}
	go func() { started.Wait(); cancel() }()
	r, err := New(Options{Parallel: 2})
	require.NoError(t, err)
	begin := time.Now()
	d, err := r.Run(ctx, spec(reqs...))
	assert.Less(t, time.Since(begin), 5*time.Second, "Run returns promptly after cancel")
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, d)
	assert.Equal(t, GateBlocked, d.Gate)
	var ran, notStarted int
	for _, rr := range d.Requirements {
		assert.Equal(t, StatusFail, rr.Status)
		switch rr.Error {
		case "canceled before it ran":
			notStarted++
		case "context canceled":
			ran++
		default:
			t.Errorf("%s: unexpected error %q", rr.ID, rr.Error)
		}
	}
	assert.Equal(t, 2, ran)
	assert.Equal(t, 4, notStarted)
}

func TestCancelledBeforeRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var log eventLog
	r, err := New(Options{OnEvent: log.on})
	require.NoError(t, err)
	d, err := r.Run(ctx, spec(
		newReq("after-b", exit(0), dependsOn("b")), // listed before what it depends on
		newReq("a", exit(0)),
		newReq("b", exit(0), dependsOn("a")),
	))
	require.ErrorIs(t, err, context.Canceled)
	for _, rr := range d.Requirements {
		assert.Equal(t, StatusFail, rr.Status)
		assert.Equal(t, "canceled before it ran", rr.Error)
		evs := log.of(rr.ID)
		require.Len(t, evs, 1, "%s: exactly one event", rr.ID)
		assert.Equal(t, EventFinished, evs[0].Type)
	}
	assert.Equal(t, GateBlocked, d.Gate)
}

type closer struct{ closed atomic.Bool }

func (c *closer) Close(ctx context.Context) error {
	if ctx.Err() != nil {
		return errors.New("closed with a dead context")
	}
	c.closed.Store(true)
	return nil
}

func TestSessionClosedEvenOnCancel(t *testing.T) {
	c := &closer{}
	ctx, cancel := context.WithCancel(context.Background())
	run := command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
		_, err := env.Session.Get("pods", func() (any, error) { return c, nil })
		require.NoError(t, err)
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r, err := New(Options{})
	require.NoError(t, err)
	_, err = r.Run(ctx, spec(newReq("a", run)))
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, c.closed.Load(), "the session is closed with a live context after cancel")
}

// TestParallelBound holds every command until the test releases it, one at a time, and
// checks after each step, once every goroutine of the run is blocked (synctest.Wait), that
// exactly min(Parallel, not yet released) commands run: never more, and never fewer while
// requirements wait. No sleep decides the outcome.
func TestParallelBound(t *testing.T) {
	for _, parallel := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(parallel), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cur, peak atomic.Int32
				release := make(chan struct{})
				run := holding(&cur, &peak, release)
				n := 4 * parallel
				var reqs []*requirement.Requirement
				for i := range n {
					reqs = append(reqs, newReq(fmt.Sprint(i), run))
				}
				r, err := New(Options{Parallel: parallel})
				require.NoError(t, err)
				type outcome struct {
					d   *Decision
					err error
				}
				// Cancelled when the test ends, so that a failed check leaves no command blocked.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan outcome, 1)
				go func() {
					d, err := r.Run(ctx, spec(reqs...))
					done <- outcome{d, err}
				}()
				for released := range n {
					synctest.Wait()
					require.Equal(t, int32(min(parallel, n-released)), cur.Load(), "commands running with %d of %d released", released, n)
					release <- struct{}{}
				}
				res := <-done
				require.NoError(t, res.err)
				assert.Equal(t, GatePass, res.d.Gate)
				assert.Equal(t, int32(parallel), peak.Load())
			})
		})
	}
}

// TestSpecOrderAndEvents makes the requirements finish in the reverse of spec order (each
// command waits for its own release, given once the later ones have finished) and checks
// that the finish events came in that order while the results stay in spec order.
func TestSpecOrderAndEvents(t *testing.T) {
	ids := []string{"a", "b", "c", "d"}
	release := map[string]chan struct{}{}
	started := make(chan string, len(ids))
	var reqs []*requirement.Requirement
	for _, id := range ids {
		release[id] = make(chan struct{})
		reqs = append(reqs, newReq(id, func(ctx context.Context, _ *command.Env) (*command.Result, error) {
			started <- id
			select {
			case <-release[id]:
				return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}))
	}
	var log eventLog
	finished := make(chan string, len(ids))
	onEvent := func(e Event) {
		log.on(e)
		if e.Type == EventFinished {
			finished <- e.RequirementID
		}
	}
	r, err := New(Options{Parallel: len(ids), OnEvent: onEvent})
	require.NoError(t, err)
	type outcome struct {
		d   *Decision
		err error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a failed check leaves no command blocked
	done := make(chan outcome, 1)
	go func() {
		d, err := r.Run(ctx, spec(reqs...))
		done <- outcome{d, err}
	}()
	for range ids {
		<-started // all four run at once
	}
	var finishOrder []string
	for i := len(ids) - 1; i >= 0; i-- {
		close(release[ids[i]])
		finishOrder = append(finishOrder, <-finished)
	}
	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, []string{"d", "c", "b", "a"}, finishOrder, "the requirements finished in reverse spec order")

	var got []string
	for _, rr := range res.d.Requirements {
		got = append(got, rr.ID)
	}
	assert.Equal(t, ids, got, "results in spec order, not finish order")
	var events []string
	for _, e := range log.events {
		if e.Type == EventFinished {
			events = append(events, e.RequirementID)
		}
	}
	assert.Equal(t, finishOrder, events, "finish events in finish order")
	assert.False(t, log.overlap.Load(), "OnEvent calls never overlap")
	for _, id := range ids {
		evs := log.of(id)
		require.Len(t, evs, 2, id)
		assert.Equal(t, EventStarted, evs[0].Type)
		assert.Nil(t, evs[0].Result)
		assert.Equal(t, EventFinished, evs[1].Type)
		require.NotNil(t, evs[1].Result)
		assert.Equal(t, StatusPass, evs[1].Result.Status)
	}
}

func TestEnvGivenToCommands(t *testing.T) {
	var got *command.Env
	run := command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
		got = env
		return &command.Result{Outputs: []command.Output{{}}}, nil
	})
	d := mustRun(t, Options{OutputLimit: 100, QPS: 7, Burst: 9, MaxConcurrentPods: 3}, spec(newReq("a", run, timeout(3*time.Second))))
	require.NotNil(t, got)
	assert.Equal(t, "a", got.RequirementID)
	assert.Equal(t, d.RunID, got.RunID)
	assert.Regexp(t, `^[0-9a-f]{10}$`, got.RunID)
	assert.Equal(t, "default", got.Namespace)
	assert.Equal(t, 3*time.Second, got.Timeout)
	assert.Equal(t, 100, got.OutputLimit)
	assert.NotNil(t, got.Logger)
	assert.NotNil(t, got.Session)
	assert.Equal(t, command.ClusterSettings{QPS: 7, Burst: 9, MaxConcurrentPods: 3}, got.Cluster)
}

func TestCommandResultShapes(t *testing.T) {
	tests := []struct {
		name    string
		run     command.RunFunc
		status  Status
		message string
		errText string
		notes   []string
	}{
		{name: "nil result", run: func(context.Context, *command.Env) (*command.Result, error) { return nil, nil },
			status: StatusFail, message: "could not check", errText: "the command returned no result"},
		{name: "no outputs", run: func(context.Context, *command.Env) (*command.Result, error) { return &command.Result{}, nil },
			status: StatusFail, message: "the command produced no output", errText: "the command produced no output"},
		{name: "truncated", run: func(context.Context, *command.Env) (*command.Result, error) {
			return &command.Result{Outputs: []command.Output{{Truncated: true}}, Notes: []string{"from the command"}}, nil
		}, status: StatusPass, message: "ok", notes: []string{"from the command", "output truncated to 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustRun(t, Options{}, spec(newReq("a", tt.run)))
			r := d.Requirements[0]
			assert.Equal(t, tt.status, r.Status)
			assert.Equal(t, tt.message, r.Message)
			assert.Equal(t, tt.errText, r.Error)
			assert.ElementsMatch(t, tt.notes, r.Notes)
		})
	}
}

func TestUnpreparedCommandFails(t *testing.T) {
	req := newReq("a", nil)
	req.Command.Prepared = nil
	d := mustRun(t, Options{}, spec(req))
	assert.Equal(t, StatusFail, d.Requirements[0].Status)
	assert.Contains(t, d.Requirements[0].Error, `command "test" was not prepared`)
}

func TestDependsOn(t *testing.T) {
	var mu sync.Mutex
	var order []string
	rec := func(id string, code int) command.RunFunc {
		return func(context.Context, *command.Env) (*command.Result, error) {
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			return &command.Result{Outputs: []command.Output{{StatusCode: code}}}, nil
		}
	}
	var log eventLog
	d := mustRun(t, Options{OnEvent: log.on}, spec(
		newReq("c", rec("c", 0), dependsOn("b")),
		newReq("b", rec("b", 0), dependsOn("a")),
		newReq("a", rec("a", 0)),
		newReq("broken", rec("broken", 1)),
		newReq("after-broken", rec("after-broken", 0), dependsOn("broken"), strict),
		newReq("after-after", rec("after-after", 0), dependsOn("after-broken", "a")),
	))
	assert.Equal(t, []string{"a", "b", "c"}, filter(order, "a", "b", "c"))
	assert.NotContains(t, order, "after-broken")
	assert.NotContains(t, order, "after-after")

	ab := byID(d, "after-broken")
	assert.Equal(t, StatusNotRun, ab.Status)
	assert.Equal(t, "not run: depends on broken, which failed", ab.Message)
	assert.Zero(t, ab.Attempts)
	aa := byID(d, "after-after")
	assert.Equal(t, StatusNotRun, aa.Status)
	assert.Equal(t, "not run: depends on after-broken, which did not run", aa.Message)
	assert.Equal(t, GateBlocked, d.Gate, "a strict requirement that did not run blocks")

	evs := log.of("after-broken")
	require.Len(t, evs, 1, "a requirement that does not run only finishes")
	assert.Equal(t, EventFinished, evs[0].Type)

	// A not-run requirement can be acknowledged unless strict.
	d = mustRun(t, Options{Acknowledge: []string{"broken", "after-broken"}}, spec(
		newReq("broken", exit(1)),
		newReq("after-broken", exit(0), dependsOn("broken")),
	))
	assert.Equal(t, GatePass, d.Gate)
	assert.True(t, byID(d, "after-broken").Acknowledged)
}

func filter(in []string, keep ...string) []string {
	var out []string
	for _, s := range in {
		for _, k := range keep {
			if s == k {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestIndependentRequirementsRunInParallel(t *testing.T) {
	// a and b wait for each other: they finish only if they run at the same time; c waits for
	// both and must not start before them.
	var wg sync.WaitGroup
	wg.Add(2)
	var cStarted atomic.Bool
	meet := command.RunFunc(func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		wg.Done()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	c := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		cStarted.Store(true)
		return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
	})
	d := mustRun(t, Options{}, spec(
		newReq("c", c, dependsOn("a", "b")),
		newReq("a", meet, timeout(5*time.Second)),
		newReq("b", meet, timeout(5*time.Second)),
	))
	assert.Equal(t, GatePass, d.Gate, "%+v", d.Requirements)
	assert.True(t, cStarted.Load())
}

func TestNodeAggregation(t *testing.T) {
	nodes := func(outs []command.Output, excluded ...command.Excluded) command.RunFunc {
		return func(context.Context, *command.Env) (*command.Result, error) {
			return &command.Result{Outputs: outs, Excluded: excluded, Privileged: true}, nil
		}
	}
	byCode := []reqOpt{results(standardResults()...)}
	tests := []struct {
		name    string
		run     command.RunFunc
		status  Status
		message string
		code    int
		nodes   []NodeResult
	}{
		{
			name:    "all pass",
			run:     nodes([]command.Output{{Node: "n2"}, {Node: "n1"}, {Node: "n3"}}),
			status:  StatusPass,
			message: "ok (3 nodes)",
			nodes: []NodeResult{
				{Node: "n1", Status: StatusPass, Message: "ok", StatusCode: intp(0)},
				{Node: "n2", Status: StatusPass, Message: "ok", StatusCode: intp(0)},
				{Node: "n3", Status: StatusPass, Message: "ok", StatusCode: intp(0)},
			},
		},
		{
			name: "two fail with one message, one warns",
			run: nodes([]command.Output{
				{Node: "node-c", StatusCode: 1, Stdout: "c out"}, {Node: "node-a", StatusCode: 1, Stdout: "a out"},
				{Node: "node-b", StatusCode: 2}, {Node: "node-d"}, {Node: "node-e"},
			}),
			status:  StatusFail,
			message: "error on 2 of 5 nodes (node-a, node-c): bad",
			code:    1,
		},
		{
			name: "different messages, a node not run, an excluded node",
			run: nodes([]command.Output{
				{Node: "w1", StatusCode: 1},
				{Node: "w2", NotRun: "node is NotReady", Err: errors.New("node w2 is NotReady")},
				{Node: "w3"},
			}, command.Excluded{Node: "cp", Reason: "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"}),
			status:  StatusFail,
			message: "error on 2 of 3 nodes: w1: bad; w2: not run: node is NotReady",
			code:    1,
			nodes: []NodeResult{
				{Node: "cp", Status: StatusSkipped, Excluded: "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"},
				{Node: "w1", Status: StatusFail, Message: "bad", StatusCode: intp(1)},
				{Node: "w2", Status: StatusFail, Message: "not run: node is NotReady", NotRun: "node is NotReady", Error: "node w2 is NotReady"},
				{Node: "w3", Status: StatusPass, Message: "ok", StatusCode: intp(0)},
			},
		},
		{
			name:    "warnings only",
			run:     nodes([]command.Output{{Node: "a", StatusCode: 2}, {Node: "b"}}),
			status:  StatusWarn,
			message: "warning on 1 of 2 nodes (a): meh",
			code:    2,
		},
		{
			name:    "every node excluded",
			run:     nodes(nil, command.Excluded{Node: "a", Reason: "taint"}, command.Excluded{Node: "b", Reason: "taint"}),
			status:  StatusFail,
			message: "no node in scope: all 2 nodes were excluded",
			code:    -1,
		},
		{
			name:    "one node",
			run:     nodes([]command.Output{{Node: "only"}}),
			status:  StatusPass,
			message: "ok (1 node)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustRun(t, Options{}, spec(newReq("nodes", tt.run, byCode...)))
			r := d.Requirements[0]
			assert.Equal(t, tt.status, r.Status)
			assert.Equal(t, tt.message, r.Message)
			assert.True(t, r.Privileged)
			if tt.code >= 0 {
				require.NotNil(t, r.StatusCode)
				assert.Equal(t, tt.code, *r.StatusCode)
			} else {
				assert.Nil(t, r.StatusCode)
			}
			if tt.nodes != nil {
				assert.Empty(t, cmp.Diff(tt.nodes, r.Nodes, cmpopts.IgnoreFields(NodeResult{}, "Err")))
				for _, n := range r.Nodes {
					assert.Equal(t, n.Error != "" || n.ConditionError != "", n.Err != nil, "node %s: Err matches the error texts", n.Node)
				}
			}
		})
	}
}

func TestNodeMessageListsAtMostTenNames(t *testing.T) {
	var outs []command.Output
	for i := range 14 {
		outs = append(outs, command.Output{Node: fmt.Sprintf("n%02d", i), StatusCode: 1})
	}
	run := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: outs}, nil
	})
	d := mustRun(t, Options{}, spec(newReq("a", run)))
	assert.Equal(t, "error on 14 of 14 nodes (n00, n01, n02, n03, n04, n05, n06, n07, n08, n09 and 4 more): bad", d.Requirements[0].Message)
	assert.Len(t, d.Requirements[0].Nodes, 14)
}

// flipping returns a command whose status code follows codes, then stays at the last one;
// a negative code is a command error.
func flipping(codes ...int) (command.RunFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(context.Context, *command.Env) (*command.Result, error) {
		n := int(calls.Add(1)) - 1
		code := codes[min(n, len(codes)-1)]
		if code < 0 {
			return nil, fmt.Errorf("attempt %d: connection refused", n+1)
		}
		return &command.Result{Outputs: []command.Output{{StatusCode: code, Stdout: fmt.Sprint("attempt ", n+1)}}}, nil
	}, &calls
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		codes    []int
		retry    requirement.Retry
		status   Status
		attempts int
		stdout   string
		note     string
	}{
		{name: "until success", codes: []int{1, 2, 0}, retry: requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second},
			status: StatusPass, attempts: 3, stdout: "attempt 3"},
		{name: "until warn stops on warn", codes: []int{1, 2, 0}, retry: requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second, Until: "warn"},
			status: StatusWarn, attempts: 2, stdout: "attempt 2"},
		{name: "until error retries command errors only", codes: []int{-1, -1, 1, 0}, retry: requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second, Until: "error"},
			status: StatusFail, attempts: 3, stdout: "attempt 3"},
		{name: "failure limit", codes: []int{1, -1, -1, -1, 0}, retry: requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second, FailureLimit: 2},
			status: StatusFail, attempts: 3, note: "stopped after 2 consecutive attempts that could not produce a result (failure_limit 2): last status fail"},
		{name: "errors interleaved with results do not hit the limit", codes: []int{-1, 1, -1, 1, 0}, retry: requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second, FailureLimit: 2},
			status: StatusPass, attempts: 5},
		{name: "gives up at the timeout", codes: []int{2}, retry: requirement.Retry{Interval: 20 * time.Millisecond, Timeout: 90 * time.Millisecond},
			status: StatusWarn, stdout: "attempt 1", note: "(retry timeout): last status warn, waiting for success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, calls := flipping(tt.codes...)
			var log eventLog
			d := mustRun(t, Options{OnEvent: log.on}, spec(newReq("r", run, retry(tt.retry))))
			r := d.Requirements[0]
			assert.Equal(t, tt.status, r.Status)
			if tt.attempts > 0 {
				assert.Equal(t, tt.attempts, r.Attempts)
			}
			assert.Equal(t, int(calls.Load()), r.Attempts, "attempts counts the command's runs")
			if tt.stdout != "" {
				assert.Equal(t, "attempt "+fmt.Sprint(r.Attempts), r.Stdout, "the decision shows the last output")
			}
			if tt.note != "" {
				require.NotEmpty(t, r.Notes)
				assert.Contains(t, r.Notes[len(r.Notes)-1], tt.note)
			} else {
				assert.Empty(t, r.Notes)
			}
			evs := log.of("r")
			require.Len(t, evs, r.Attempts+2, "started, one event per attempt, finished")
			assert.Equal(t, EventStarted, evs[0].Type)
			for i, e := range evs[1 : len(evs)-1] {
				assert.Equal(t, EventAttempt, e.Type)
				assert.Equal(t, i+1, e.Attempt)
				assert.Equal(t, i+1, e.Result.Attempts)
				if i+1 < r.Attempts {
					assert.Equal(t, Duration(tt.retry.Interval), e.RetryIn, "another attempt follows")
				} else if !strings.Contains(tt.name, "timeout") {
					assert.Zero(t, e.RetryIn, "the last attempt")
				} else {
					// A loaded machine can wake from the announced pause after the retry
					// deadline: the pause was announced, the attempt never came.
					assert.Contains(t, []Duration{0, Duration(tt.retry.Interval)}, e.RetryIn, "the last attempt")
				}
			}
			assert.Equal(t, EventFinished, evs[len(evs)-1].Type)
		})
	}
}

// A retry stops at once on an error that cannot change (command.Permanent), instead of
// waiting out its timeout; other errors are retried.
func TestRetryStopsOnPermanentError(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"no cluster", fmt.Errorf("the kubernetes command needs a cluster: %w", command.ErrNoCluster), true},
		{"permission refused", &command.PermissionError{Denied: []podrun.Permission{{Verb: "list", Resource: "deployments"}}, Reasons: []string{""}}, true},
		{"forbidden", apierrors.NewForbidden(gr, "web", errors.New("RBAC: access denied")), true},
		{"kind not served", fmt.Errorf("no kind %q: %w", "Gadget", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Gadget"}}), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "web", nil), true},
		{"bad request", apierrors.NewBadRequest("unable to parse requirement: found '=', expected: identifier"), true},
		{"unavailable", apierrors.NewServiceUnavailable("etcd leader changed"), false},
		{"connection refused", errors.New("dial tcp 10.0.0.1:6443: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			fails := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
				calls.Add(1)
				return nil, tt.err
			})
			var log eventLog
			// Transient errors stop at the failure limit; a permanent one before it.
			rt := requirement.Retry{Interval: time.Millisecond, Timeout: time.Minute, FailureLimit: 4}
			d := mustRun(t, Options{OnEvent: log.on}, spec(newReq("r", fails, retry(rt))))
			r := d.Requirements[0]
			assert.Equal(t, StatusFail, r.Status)
			assert.ErrorIs(t, r.Err, tt.err)
			if !tt.permanent {
				assert.Equal(t, int32(4), calls.Load(), "retried up to the failure limit")
				return
			}
			assert.Equal(t, int32(1), calls.Load(), "one attempt")
			assert.Equal(t, 1, r.Attempts)
			require.NotEmpty(t, r.Notes)
			assert.Equal(t, "retry stopped at attempt 1: the error cannot change by retrying (a missing cluster or permission, a kind the cluster does not serve, an invalid request)", r.Notes[len(r.Notes)-1])
			attempts := log.of("r")[1:2]
			assert.Equal(t, EventAttempt, attempts[0].Type)
			assert.Zero(t, attempts[0].RetryIn, "no retry follows")
		})
	}
}

func TestRetryGiveUpMessage(t *testing.T) {
	run, calls := flipping(1)
	d := mustRun(t, Options{}, spec(newReq("r", run, retry(requirement.Retry{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}))))
	r := d.Requirements[0]
	assert.Equal(t, StatusFail, r.Status)
	assert.Equal(t, int(calls.Load()), r.Attempts)
	assert.Equal(t, fmt.Sprintf("gave up after %d attempts over 200ms (retry timeout): last status fail, waiting for success", r.Attempts), r.Notes[0])
}

func TestRetryCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	run := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		if calls.Add(1) == 2 {
			cancel()
		}
		return &command.Result{Outputs: []command.Output{{StatusCode: 1}}}, nil
	})
	r, err := New(Options{})
	require.NoError(t, err)
	begin := time.Now()
	d, err := r.Run(ctx, spec(newReq("r", run, retry(requirement.Retry{Interval: 20 * time.Millisecond, Timeout: time.Hour}))))
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(begin), 5*time.Second)
	rr := d.Requirements[0]
	assert.Equal(t, StatusFail, rr.Status)
	assert.Equal(t, 2, rr.Attempts)
	assert.True(t, strings.HasPrefix(rr.Notes[0], "stopped after 2 attempts: context canceled"), rr.Notes[0])
	assert.Equal(t, GateBlocked, d.Gate)
}

func TestRetryTimeoutCutsAnAttempt(t *testing.T) {
	var calls atomic.Int32
	run := command.RunFunc(func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		if calls.Add(1) == 1 {
			return &command.Result{Outputs: []command.Output{{StatusCode: 2, Stdout: "first"}}}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	d := mustRun(t, Options{}, spec(newReq("r", run, timeout(0), retry(requirement.Retry{Interval: time.Millisecond, Timeout: 50 * time.Millisecond}))))
	rr := d.Requirements[0]
	assert.Equal(t, StatusWarn, rr.Status, "the cut attempt does not replace the one before")
	assert.Equal(t, "first", rr.Stdout)
	assert.Equal(t, 2, rr.Attempts)
	assert.Contains(t, rr.Notes[0], "the last attempt was cut short")
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   Duration
		json string
	}{
		{0, "0"},
		{Duration(1500 * time.Millisecond), "1.5"},
		{Duration(250 * time.Microsecond), "0.00025"},
		{Duration(10 * time.Minute), "600"},
		{Duration(time.Nanosecond), "0.000000001"},
	}
	for _, tt := range tests {
		b, err := tt.in.MarshalJSON()
		require.NoError(t, err)
		assert.Equal(t, tt.json, string(b))
		var back Duration
		require.NoError(t, back.UnmarshalJSON(b))
		assert.Equal(t, tt.in, back)
	}
	var d Duration
	require.NoError(t, d.UnmarshalJSON([]byte(`"1m30s"`)))
	assert.Equal(t, Duration(90*time.Second), d)
	assert.ErrorContains(t, d.UnmarshalJSON([]byte(`"soon"`)), "duration")
	assert.ErrorContains(t, d.UnmarshalJSON([]byte(`true`)), "want a number of seconds")
	assert.ErrorContains(t, d.UnmarshalJSON([]byte(`1e300`)), "out of range")
}

// clusterCommand is a command that says it talks to the cluster (as the scheduler,
// kubernetes, logs and dry_run commands do).
type clusterCommand struct{ command.RunFunc }

func (clusterCommand) UsesCluster() bool { return true }

// TestClusterCommandsBound interleaves cluster and host commands, holds each until the test
// releases it, and checks once every goroutine of the run is blocked that the cluster
// commands run up to MaxConcurrentPods at once whatever Parallel is, and the host commands
// up to Parallel at once, each kind unaffected by the other.
func TestClusterCommandsBound(t *testing.T) {
	for _, tt := range []struct {
		parallel, maxPods, cluster, host int
		wantCluster                      int // cluster commands at once
	}{
		{parallel: 1, maxPods: 5, cluster: 12, host: 4, wantCluster: 5},
		{parallel: 8, maxPods: 0, cluster: 20, host: 3, wantCluster: 20}, // default: 128 pods at once
		{parallel: 3, maxPods: 1, cluster: 4, host: 6, wantCluster: 1},
	} {
		t.Run(fmt.Sprintf("parallel=%d,pods=%d", tt.parallel, tt.maxPods), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var curCluster, curHost atomic.Int32
				releaseCluster, releaseHost := make(chan struct{}), make(chan struct{})
				var peak atomic.Int32 // not checked here
				hold := func(cur *atomic.Int32, release chan struct{}) command.RunFunc { return holding(cur, &peak, release) }
				var reqs []*requirement.Requirement
				for i := range max(tt.cluster, tt.host) {
					if i < tt.cluster {
						reqs = append(reqs, newReq(fmt.Sprint("c", i), nil, withCommand(clusterCommand{hold(&curCluster, releaseCluster)})))
					}
					if i < tt.host {
						reqs = append(reqs, newReq(fmt.Sprint("h", i), hold(&curHost, releaseHost)))
					}
				}
				r, err := New(Options{Parallel: tt.parallel, MaxConcurrentPods: tt.maxPods})
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan *Decision, 1)
				go func() {
					d, _ := r.Run(ctx, spec(reqs...)) // an interrupted run blocks the gate
					done <- d
				}()
				for released := range tt.cluster {
					synctest.Wait()
					require.Equal(t, int32(min(tt.wantCluster, tt.cluster-released)), curCluster.Load(), "cluster commands running with %d of %d released", released, tt.cluster)
					require.Equal(t, int32(min(tt.parallel, tt.host)), curHost.Load(), "host commands running")
					releaseCluster <- struct{}{}
				}
				for released := range tt.host {
					synctest.Wait()
					require.Equal(t, int32(min(tt.parallel, tt.host-released)), curHost.Load(), "host commands running with %d of %d released", released, tt.host)
					releaseHost <- struct{}{}
				}
				assert.Equal(t, GatePass, (<-done).Gate)
			})
		})
	}
}
