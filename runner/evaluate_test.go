package runner

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

func TestEvaluateRoundTrip(t *testing.T) {
	perNode := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{
			Outputs: []command.Output{
				{Node: "a", StatusCode: 0, Stdout: "fine"},
				{Node: "b", StatusCode: 1, Stderr: "missing"},
				{Node: "c", NotRun: "node is NotReady", Err: errors.New("node c is NotReady")},
			},
			Excluded: []command.Excluded{{Node: "cp", Reason: "taint not tolerated"}},
		}, nil
	})
	s := spec(
		newReq("pass", exit(0)),
		newReq("warn", exit(2)),
		newReq("fail", exit(1), strict),
		newReq("cmd-error", failing("connection refused")),
		newReq("timeout", blocking(), timeout(10*time.Millisecond)),
		newReq("nodes", perNode),
		newReq("after-fail", exit(0), dependsOn("fail")),
	)
	var ran []RequirementResult
	{
		d := mustRun(t, Options{Acknowledge: []string{"warn"}}, s)
		b, err := json.Marshal(d)
		require.NoError(t, err)
		var recorded Decision
		require.NoError(t, json.Unmarshal(b, &recorded))
		noErr := cmp.Options{cmpopts.IgnoreFields(RequirementResult{}, "Err"), cmpopts.IgnoreFields(NodeResult{}, "Err")}
		assert.Empty(t, cmp.Diff(d, &recorded, cmpopts.EquateApproxTime(time.Microsecond), noErr), "JSON round trip (Err is not part of it)")

		r, err := New(Options{Acknowledge: []string{"warn"}})
		require.NoError(t, err)
		ev, err := r.Evaluate(context.Background(), s, &recorded)
		require.NoError(t, err)
		assert.Equal(t, d.Gate, ev.Gate)
		ignore := cmpopts.IgnoreFields(RequirementResult{}, "Duration", "Attempts", "Err")
		ignoreNode := cmpopts.IgnoreFields(NodeResult{}, "Duration", "Err")
		ignoreAckTime := cmpopts.IgnoreFields(Acknowledgment{}, "At")
		assert.Empty(t, cmp.Diff(d.Requirements, ev.Requirements, ignore, ignoreNode, ignoreAckTime), "evaluating the recording gives the same results")
		ran = d.Requirements
	}
	assert.Equal(t, "timed out after 10ms", ran[4].Error)
	assert.Equal(t, StatusNotRun, ran[6].Status)
}

func TestEvaluateMissingOutputs(t *testing.T) {
	s := spec(newReq("recorded", nil), newReq("missing", nil), newReq("was-not-run", nil))
	code := 0
	recorded := &Decision{Requirements: []RequirementResult{
		{ID: "recorded", StatusCode: &code},
		{ID: "was-not-run", Status: StatusNotRun},
	}}
	r, err := New(Options{})
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), s, recorded)
	require.NoError(t, err)
	assert.Equal(t, StatusPass, d.Requirements[0].Status)
	for _, rr := range d.Requirements[1:] {
		assert.Equal(t, StatusFail, rr.Status, rr.ID)
		assert.Equal(t, "no recorded output", rr.Error, rr.ID)
	}
	assert.Equal(t, GateNeedsAck, d.Gate)

	_, err = r.Evaluate(context.Background(), s, nil)
	assert.ErrorContains(t, err, "no recorded decision")
}

// A recorded condition error is not a command error: replaying it analyses the output again
// (the condition fails again), and condition.error does not match.
func TestEvaluateKeepsConditionErrorsApart(t *testing.T) {
	yes := true
	res := []requirement.Result{
		{Status: requirement.StatusWarn, Message: requirement.Message{Text: "could not run"}, Condition: &requirement.Condition{Error: &yes}},
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: &requirement.Condition{Expr: compile(t, `output.ready == true`, analyzer.ScopeCondition)}},
	}
	s := spec(newReq("a", nil, results(res...)))
	code := 0
	recorded := &Decision{Requirements: []RequirementResult{{ID: "a", Status: StatusFail, StatusCode: &code, Stdout: "{}",
		ConditionError: "results[1].condition.expr: 1:7: no such key: ready"}}}
	r, err := New(Options{})
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), s, recorded)
	require.NoError(t, err)
	got := d.Requirements[0]
	assert.Equal(t, StatusFail, got.Status, "condition.error must not match an output whose command ran")
	assert.Empty(t, got.Error)
	assert.Contains(t, got.ConditionError, "no such key: ready")
}

func TestNormalizeNumbers(t *testing.T) {
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"nodes":[{"cpu":4,"ratio":0.5,"name":"a"}],"count":3}`), &v))
	got := normalizeNumbers(v)
	assert.Equal(t, map[string]any{
		"nodes": []any{map[string]any{"cpu": int64(4), "ratio": 0.5, "name": "a"}},
		"count": int64(3),
	}, got)
}
