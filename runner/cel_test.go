package runner

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// Tests that need the CEL implementation: `when`, `results`, vars/app/phase, cluster facts.

func TestWhen(t *testing.T) {
	var ran atomic.Int32
	count := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		ran.Add(1)
		return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
	})
	opts := Options{Vars: map[string]any{"tier": "prod"}, Phase: Upgrade, AppVersion: "2.1.0", PreviousVersion: "1.9.0"}
	var log eventLog
	opts.OnEvent = log.on
	d := mustRun(t, opts, spec(
		newReq("applies", count, when(t, `vars.tier == "prod" && phase == "upgrade" && app.previous_version == "1.9.0"`)),
		newReq("skipped", count, when(t, `phase == "install"`), message("Install only")),
		newReq("when-error", count, when(t, `vars.missing == "x"`), strict),
	))
	assert.Equal(t, int32(1), ran.Load(), "only the applicable requirement runs")
	assert.Equal(t, StatusPass, d.Requirements[0].Status)

	sk := d.Requirements[1]
	assert.Equal(t, StatusSkipped, sk.Status)
	assert.Equal(t, "Install only", sk.Message)
	assert.Equal(t, []string{`skipped: when is false: phase == "install"`}, sk.Notes)
	assert.Zero(t, sk.Attempts)
	assert.Len(t, log.of("skipped"), 2, "a skipped requirement starts and finishes")

	we := d.Requirements[2]
	assert.Equal(t, StatusFail, we.Status, "a when that errors fails, never skips")
	assert.True(t, len(we.Error) > len("when: ") && we.Error[:6] == "when: ", we.Error)
	assert.Equal(t, GateBlocked, d.Gate)
}

// TestPhases: one spec carries the gate and the verification; each phase runs its own
// requirements, and the decision says which phase ran.
func TestPhases(t *testing.T) {
	ok := exit(0)
	s := spec(
		newReq("gate", ok, when(t, `phase == "upgrade"`)),
		newReq("verify-upgrade", ok, when(t, `phase == "post-upgrade" && app.version == "2.0.0" && app.previous_version == "1.9.0"`)),
		newReq("verify-install", ok, when(t, `phase == "post-install" && app.previous_version == ""`)),
		newReq("before", ok, when(t, `phase in ["install", "upgrade"]`)),
	)
	tests := []struct {
		opts Options
		want Phase
		ran  []string
	}{
		{opts: Options{}, want: Install, ran: []string{"before"}},
		{opts: Options{Phase: Upgrade, AppVersion: "2.0.0", PreviousVersion: "1.9.0"}, want: Upgrade, ran: []string{"gate", "before"}},
		{opts: Options{Phase: PostUpgrade, AppVersion: "2.0.0", PreviousVersion: "1.9.0"}, want: PostUpgrade, ran: []string{"verify-upgrade"}},
		{opts: Options{Phase: PostInstall, AppVersion: "2.0.0"}, want: PostInstall, ran: []string{"verify-install"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			d := mustRun(t, tt.opts, s)
			assert.Equal(t, tt.want, d.Phase, "the decision says which phase ran")
			var ran []string
			for _, r := range d.Requirements {
				if r.Status != StatusSkipped {
					ran = append(ran, r.ID)
				}
			}
			assert.Equal(t, tt.ran, ran)
			b, err := json.Marshal(d)
			require.NoError(t, err)
			assert.Contains(t, string(b), `"phase":"`+string(tt.want)+`"`)
		})
	}
}

func TestResultsVisibleToDependents(t *testing.T) {
	d := mustRun(t, Options{}, spec(
		newReq("warns", exit(2)),
		newReq("is-skipped", exit(0), when(t, "false")),
		newReq("sees", exit(0), dependsOn("warns", "is-skipped"),
			when(t, `results["warns"] == "warn" && results["is-skipped"] == "skipped" && !("other" in results)`)),
		newReq("other", exit(0)),
		newReq("condition-sees", exit(0), dependsOn("warns"), results(
			requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "saw it"},
				Condition: &requirement.Condition{Expr: compile(t, `results["warns"] == "warn" && status_code == 0`, analyzer.ScopeCondition)}},
			requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "did not"}},
		)),
	))
	assert.Equal(t, StatusPass, byID(d, "sees").Status, "a warned or skipped dependency does not stop a requirement")
	assert.Equal(t, "saw it", byID(d, "condition-sees").Message)
}

func TestConditionEvaluationErrorFails(t *testing.T) {
	res := []requirement.Result{
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: &requirement.Condition{Expr: compile(t, `output.ready == true`, analyzer.ScopeCondition)}},
	}
	notJSON := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{StatusCode: 0, Stdout: "{}"}}}, nil
	})
	d := mustRun(t, Options{}, spec(newReq("a", notJSON, results(res...))))
	r := d.Requirements[0]
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.ConditionError, "no such key: ready")
	assert.Equal(t, "", r.Error, "the command itself had no error")
	assert.ErrorContains(t, r.Err, "no such key: ready")
}

func TestClusterFacts(t *testing.T) {
	usesCluster := when(t, `cluster.version.startsWith("1.")`)
	clusterCondition := results(
		requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "enough nodes"},
			Condition: &requirement.Condition{Expr: compile(t, `size(cluster.nodes) >= 2`, analyzer.ScopeCondition)}},
		requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "too few nodes"}},
	)
	facts := map[string]any{"version": "1.36.3", "nodes": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}}

	t.Run("fetched once, lazily", func(t *testing.T) {
		r, fetches := countingFacts(t, facts)
		d, err := r.Run(context.Background(), spec(
			newReq("w1", exit(0), usesCluster),
			newReq("w2", exit(0), usesCluster),
			newReq("c", exit(0), clusterCondition),
		))
		require.NoError(t, err)
		assert.Equal(t, int32(1), fetches.Load())
		assert.Equal(t, GatePass, d.Gate, "%+v", d.Requirements)
		assert.Equal(t, "enough nodes", byID(d, "c").Message)
		assert.Equal(t, facts, d.Cluster, "the decision records the facts for Evaluate")

		d, err = r.Run(context.Background(), spec(newReq("plain", exit(0))))
		require.NoError(t, err)
		assert.Equal(t, int32(1), fetches.Load(), "not fetched when no expression uses them")
		assert.Nil(t, d.Cluster)
	})

	t.Run("fetch error fails exactly the requirements that need them", func(t *testing.T) {
		r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}})
		require.NoError(t, err)
		r.newReviewClient = (&fakeReviews{}).client // the run's permission check grants list nodes
		r.fetchCluster = func(context.Context, *rest.Config) (map[string]any, error) {
			return nil, errors.New("connection refused")
		}
		d, err := r.Run(context.Background(), spec(
			newReq("w", exit(0), usesCluster),
			newReq("c", exit(0), clusterCondition),
			newReq("plain", exit(0)),
		))
		require.NoError(t, err)
		assert.Equal(t, "cluster facts: connection refused", byID(d, "w").Error)
		assert.Equal(t, StatusFail, byID(d, "w").Status)
		assert.Equal(t, "cluster facts: connection refused", byID(d, "c").Error)
		assert.Equal(t, StatusPass, byID(d, "plain").Status)
	})

	t.Run("no cluster", func(t *testing.T) {
		d := mustRun(t, Options{}, spec(newReq("w", exit(0), usesCluster)))
		assert.Equal(t, StatusFail, d.Requirements[0].Status)
		assert.Contains(t, d.Requirements[0].Error, "cluster facts: they need a cluster, but no cluster configuration was given (runner.Options.Config is nil)")
		assert.ErrorIs(t, d.Requirements[0].Err, command.ErrNoCluster)
	})

	t.Run("evaluate reuses recorded facts", func(t *testing.T) {
		code := 0
		recorded := &Decision{
			Cluster:      map[string]any{"version": "1.30.0", "nodes": []any{map[string]any{"name": "only"}}},
			Requirements: []RequirementResult{{ID: "w", StatusCode: &code}, {ID: "c", StatusCode: &code}},
		}
		r, err := New(Options{})
		require.NoError(t, err)
		d, err := r.Evaluate(context.Background(), spec(newReq("w", nil, usesCluster), newReq("c", nil, clusterCondition)), recorded)
		require.NoError(t, err)
		assert.Equal(t, StatusPass, d.Requirements[0].Status)
		assert.Equal(t, "too few nodes", d.Requirements[1].Message)
	})
}

func TestCostBudgetIsRunWide(t *testing.T) {
	// Each evaluation stays under the per-call limit; together they exceed a small budget.
	expensive := `[1,2,3,4,5,6,7,8,9,10].all(x, [1,2,3,4,5,6,7,8,9,10].all(y, x * y > 0))`
	var reqs []*requirement.Requirement
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		reqs = append(reqs, newReq(id, exit(0), when(t, expensive)))
	}
	d := mustRun(t, Options{CostBudget: 1000, Parallel: 1}, spec(reqs...))
	var exhausted int
	for _, r := range d.Requirements {
		if r.Status == StatusFail {
			exhausted++
			assert.Contains(t, r.Error, "when: ")
		}
	}
	assert.Positive(t, exhausted, "the run's budget runs out: %+v", d.Requirements)
	assert.NotEqual(t, GatePass, d.Gate)
}

// An expression that reaches the per-call cost limit fails its requirement, and the
// decision keeps the reason as a Go error: errors.Is(r.Err, analyzer.ErrCostLimit).
func TestConditionCostLimitIsTyped(t *testing.T) {
	l := make([]any, 1000)
	for i := range l {
		l[i] = int64(i)
	}
	res := []requirement.Result{
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: &requirement.Condition{Expr: compile(t, `vars.l.all(x, !vars.s.contains("zz"))`, analyzer.ScopeCondition)}},
	}
	d := mustRun(t, Options{Vars: map[string]any{"l": l, "s": strings.Repeat("a", 10000)}}, spec(newReq("a", exit(0), results(res...))))
	r := d.Requirements[0]
	assert.Equal(t, StatusFail, r.Status)
	assert.ErrorIs(t, r.Err, analyzer.ErrCostLimit)
	assert.Contains(t, r.ConditionError, "cost limit")
}

// A command output cut at the output limit is marked in the decision, and a success judged on
// it by conditions that read the output fails: "ERROR" came after the cut, so "no ERROR line"
// must not pass. Evaluate reads the mark back from a recording and judges the same.
func TestTruncatedOutputCannotPass(t *testing.T) {
	noError := results(
		requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "ERROR in the log"},
			Condition: &requirement.Condition{Expr: compile(t, `stdout.contains("ERROR")`, analyzer.ScopeCondition)}},
		requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "no ERROR"}},
	)
	exitZero := results(requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "exit 0"},
		Condition: &requirement.Condition{StatusCode: new(int)}})
	cut := func(outs ...command.Output) command.RunFunc {
		return func(context.Context, *command.Env) (*command.Result, error) {
			return &command.Result{Outputs: outs}, nil
		}
	}
	d := mustRun(t, Options{}, spec(
		newReq("log", cut(command.Output{Stdout: "all fine\n", Truncated: true}), noError),
		newReq("log-whole", cut(command.Output{Stdout: "all fine\n"}), noError),
		newReq("exit-code", cut(command.Output{Stdout: "all fine\n", Truncated: true}), exitZero),
		newReq("nodes", cut(command.Output{Node: "a", Stdout: "fine\n"}, command.Output{Node: "b", Stdout: "fine\n", Truncated: true}), noError),
	))

	r := byID(d, "log")
	assert.Equal(t, StatusFail, r.Status)
	assert.True(t, r.Truncated)
	assert.ErrorIs(t, r.Err, requirement.ErrTruncatedOutput)
	assert.Contains(t, r.ConditionError, "cut at the output limit")
	assert.Contains(t, r.Notes, "output truncated to 1048576 bytes")

	assert.Equal(t, StatusPass, byID(d, "log-whole").Status)
	assert.False(t, byID(d, "log-whole").Truncated)
	assert.Equal(t, StatusPass, byID(d, "exit-code").Status, "a condition on the status code alone is unaffected")
	assert.True(t, byID(d, "exit-code").Truncated)

	n := byID(d, "nodes")
	assert.Equal(t, StatusFail, n.Status)
	assert.True(t, n.Truncated, "some node's output was cut")
	require.Len(t, n.Nodes, 2)
	assert.False(t, n.Nodes[0].Truncated)
	assert.Equal(t, StatusPass, n.Nodes[0].Status)
	assert.True(t, n.Nodes[1].Truncated)
	assert.ErrorIs(t, n.Nodes[1].Err, requirement.ErrTruncatedOutput)

	// The JSON form carries the mark, and Evaluate judges the recording the same way.
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"truncated":true`)
	var recorded Decision
	require.NoError(t, json.Unmarshal(raw, &recorded))
	replay := spec(newReq("log", nil, noError), newReq("log-whole", nil, noError), newReq("exit-code", nil, exitZero), newReq("nodes", nil, noError))
	r2, err := New(Options{})
	require.NoError(t, err)
	e, err := r2.Evaluate(context.Background(), replay, &recorded)
	require.NoError(t, err)
	for _, id := range []string{"log", "log-whole", "exit-code", "nodes"} {
		assert.Equal(t, byID(d, id).Status, byID(e, id).Status, id)
		assert.Equal(t, byID(d, id).Truncated, byID(e, id).Truncated, id)
	}
	assert.ErrorIs(t, byID(e, "log").Err, requirement.ErrTruncatedOutput)

	// Recorded without the mark, the same output passes: the mark is what fails it.
	byID(&recorded, "log").Truncated = false
	e, err = r2.Evaluate(context.Background(), replay, &recorded)
	require.NoError(t, err)
	assert.Equal(t, StatusPass, byID(e, "log").Status)
}

// The cluster_info command's output is the cluster facts, read by the one fetch the run shares
// with the expressions that read `cluster`.
func TestClusterInfoCommandSharesTheFetch(t *testing.T) {
	c, ok := command.Builtins().Lookup("cluster_info")
	require.True(t, ok)
	prepared, err := c.Prepare(nil, command.SpecContext{})
	require.NoError(t, err)
	clusterInfo := func(r *requirement.Requirement) { r.Command.ID = "cluster_info"; r.Command.Prepared = prepared }
	facts := map[string]any{"version": "1.36.3", "nodes": []any{map[string]any{"name": "a", "ready": true}}}
	reads := results(
		requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "one ready node"},
			Condition: &requirement.Condition{StatusCode: intp(0), Expr: compile(t, `output.nodes.filter(n, n.ready).size() == 1 && output.version == "1.36.3"`, analyzer.ScopeCondition)}},
		requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "no"}},
	)

	t.Run("one fetch for the command and cluster", func(t *testing.T) {
		r, fetches := countingFacts(t, facts)
		d, err := r.Run(context.Background(), spec(
			newReq("info", nil, clusterInfo, reads),
			newReq("info2", nil, clusterInfo, reads),
			newReq("w", exit(0), when(t, `cluster.version.startsWith("1.")`)),
		))
		require.NoError(t, err)
		assert.Equal(t, int32(1), fetches.Load(), "one fetch per run, shared")
		assert.Equal(t, GatePass, d.Gate, "%+v", d.Requirements)
		info := byID(d, "info")
		assert.Equal(t, "one ready node", info.Message)
		require.NotNil(t, info.StatusCode)
		assert.Equal(t, 0, *info.StatusCode)
		assert.JSONEq(t, `{"version":"1.36.3","nodes":[{"name":"a","ready":true}]}`, info.Stdout)
		assert.Equal(t, facts, d.Cluster)
	})

	t.Run("facts that cannot be read fail it", func(t *testing.T) {
		r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}})
		require.NoError(t, err)
		r.newReviewClient = (&fakeReviews{}).client // the run's permission check grants list nodes
		r.fetchCluster = func(context.Context, *rest.Config) (map[string]any, error) {
			return nil, errors.New("connection refused")
		}
		d, err := r.Run(context.Background(), spec(newReq("info", nil, clusterInfo, reads)))
		require.NoError(t, err)
		assert.Equal(t, StatusFail, d.Requirements[0].Status)
		assert.Equal(t, "cluster facts: connection refused", d.Requirements[0].Error)
	})

	t.Run("no cluster", func(t *testing.T) {
		d := mustRun(t, Options{}, spec(newReq("info", nil, clusterInfo, reads)))
		assert.Equal(t, StatusFail, d.Requirements[0].Status)
		assert.Contains(t, d.Requirements[0].Error, "cluster facts: they need a cluster, but no cluster configuration was given")
		assert.ErrorIs(t, d.Requirements[0].Err, command.ErrNoCluster)
	})
}

// countingFacts returns a Runner with a cluster whose facts are facts, and the count of the
// fetches it makes.
func countingFacts(t *testing.T, facts map[string]any) (*Runner, *atomic.Int32) {
	t.Helper()
	var fetches atomic.Int32
	r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}})
	require.NoError(t, err)
	r.newReviewClient = (&fakeReviews{}).client // the run's permission check grants list nodes
	r.fetchCluster = func(context.Context, *rest.Config) (map[string]any, error) {
		fetches.Add(1)
		return facts, nil
	}
	return r, &fetches
}
