package runner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// Test helpers: requirements built in Go, with commands that are plain functions.

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// standardResults: 0 is success, 2 is a warning, a command error is an error, anything else
// an error.
func standardResults() []requirement.Result {
	return []requirement.Result{
		{Status: requirement.StatusError, Message: requirement.Message{Text: "could not check"}, Condition: &requirement.Condition{Error: boolp(true)}},
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"}, Condition: &requirement.Condition{StatusCode: intp(0)}},
		{Status: requirement.StatusWarn, Message: requirement.Message{Text: "meh"}, Condition: &requirement.Condition{StatusCode: intp(2)}},
		{Status: requirement.StatusError, Message: requirement.Message{Text: "bad"}},
	}
}

type reqOpt func(*requirement.Requirement)

func strict(r *requirement.Requirement) { r.Strict = true }
func dependsOn(ids ...string) reqOpt    { return func(r *requirement.Requirement) { r.DependsOn = ids } }
func timeout(d time.Duration) reqOpt {
	return func(r *requirement.Requirement) { r.Command.Timeout = d }
}
func retry(rt requirement.Retry) reqOpt { return func(r *requirement.Requirement) { r.Retry = &rt } }
func results(rs ...requirement.Result) reqOpt {
	return func(r *requirement.Requirement) { r.Results = rs }
}
func message(text string) reqOpt {
	return func(r *requirement.Requirement) { r.Message = requirement.Message{Text: text} }
}
func when(t *testing.T, src string) reqOpt {
	e := compile(t, src, analyzer.ScopeWhen)
	return func(r *requirement.Requirement) { r.When = e }
}
func withCommand(p command.Prepared) reqOpt {
	return func(r *requirement.Requirement) { r.Command.Prepared = p }
}
func newReq(id string, run command.RunFunc, opts ...reqOpt) *requirement.Requirement {
	r := &requirement.Requirement{
		ID:      id,
		Command: requirement.Command{ID: "test", Timeout: requirement.DefaultTimeout, Prepared: run},
		Results: standardResults(),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func spec(reqs ...*requirement.Requirement) *requirement.Spec {
	return &requirement.Spec{Requirements: reqs}
}

// exit returns a command that exits with code.
func exit(code int) command.RunFunc {
	return func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{StatusCode: code, Stdout: "out"}}}, nil
	}
}

// holding returns a command that counts itself in cur (and the most at once in peak) while it
// runs, and runs until it receives from release or its context ends.
func holding(cur, peak *atomic.Int32, release chan struct{}) command.RunFunc {
	return func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer cur.Add(-1)
		select {
		case <-release:
			return &command.Result{Outputs: []command.Output{{}}}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// failing returns a command that cannot produce a result.
func failing(msg string) command.RunFunc {
	return func(context.Context, *command.Env) (*command.Result, error) { return nil, errors.New(msg) }
}

// blocking returns a command that waits for ctx to end.
func blocking() command.RunFunc {
	return func(ctx context.Context, _ *command.Env) (*command.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

func compile(t *testing.T, src string, scope analyzer.Scope) *analyzer.Expression {
	t.Helper()
	e, err := analyzer.Compile(src, scope)
	require.NoError(t, err, "compiling %q", src)
	return e
}

func mustRun(t *testing.T, opts Options, s *requirement.Spec) *Decision {
	t.Helper()
	r, err := New(opts)
	require.NoError(t, err)
	d, err := r.Run(context.Background(), s)
	require.NoError(t, err)
	require.Len(t, d.Requirements, len(s.Requirements))
	return d
}

func byID(d *Decision, id string) *RequirementResult {
	for i := range d.Requirements {
		if d.Requirements[i].ID == id {
			return &d.Requirements[i]
		}
	}
	return nil
}

// eventLog records events. It takes no lock on purpose: the runner promises one OnEvent call
// at a time, which the race detector and the overlap counter check.
type eventLog struct {
	events  []Event
	active  atomic.Int32
	overlap atomic.Bool
}

func (l *eventLog) on(e Event) {
	if l.active.Add(1) > 1 {
		l.overlap.Store(true)
	}
	l.events = append(l.events, e)
	time.Sleep(time.Microsecond) // widen the window for overlapping calls
	l.active.Add(-1)
}

func (l *eventLog) of(id string) []Event {
	var out []Event
	for _, e := range l.events {
		if e.RequirementID == id {
			out = append(out, e)
		}
	}
	return out
}
