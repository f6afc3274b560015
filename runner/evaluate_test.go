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

	"github.com/preflightkit/preflight/command"
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
		assert.Empty(t, cmp.Diff(d, &recorded, cmpopts.EquateApproxTime(time.Microsecond)), "JSON round trip")

		r, err := New(Options{Acknowledge: []string{"warn"}})
		require.NoError(t, err)
		ev, err := r.Evaluate(context.Background(), s, &recorded)
		require.NoError(t, err)
		assert.Equal(t, d.Gate, ev.Gate)
		ignore := cmpopts.IgnoreFields(RequirementResult{}, "Duration", "Attempts")
		ignoreNode := cmpopts.IgnoreFields(NodeResult{}, "Duration")
		assert.Empty(t, cmp.Diff(d.Requirements, ev.Requirements, ignore, ignoreNode), "evaluating the recording gives the same results")
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

func TestEvaluateSplitsConditionErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"boom", "boom"},
		{"condition: no such key", ""},
		{"timed out after 1s; condition: no such key", "timed out after 1s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, commandErrText(tt.in), tt.in)
	}
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
