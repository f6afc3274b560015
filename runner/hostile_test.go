package runner

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
)

// TestEvaluateRefusesOutputsThatDidNotRun checks that a recorded output marked skipped or
// not run is not analysed, whatever it holds: the requirement fails with "no recorded
// output" as documented, and a node recorded so is a node that did not run.
func TestEvaluateRefusesOutputsThatDidNotRun(t *testing.T) {
	s := spec(newReq("skipped", nil), newReq("not-run", nil), newReq("nodes", nil), newReq("fine", nil))
	recorded := &Decision{Requirements: []RequirementResult{
		{ID: "skipped", Status: StatusSkipped, StatusCode: intp(0), Stdout: "looks fine"},
		{ID: "not-run", Status: StatusNotRun, StatusCode: intp(0)},
		{ID: "nodes", Status: StatusPass, Nodes: []NodeResult{
			{Node: "a", Status: StatusPass, StatusCode: intp(0)},
			{Node: "b", Status: StatusSkipped, StatusCode: intp(0)},
			{Node: "c", Status: StatusNotRun, StatusCode: intp(0)},
		}},
		{ID: "fine", Status: StatusPass, StatusCode: intp(0)},
	}}
	r, err := New(Options{})
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), s, recorded)
	require.NoError(t, err)
	byID := map[string]RequirementResult{}
	for _, rr := range d.Requirements {
		byID[rr.ID] = rr
	}
	for _, id := range []string{"skipped", "not-run"} {
		assert.Equal(t, StatusFail, byID[id].Status, id)
		assert.Equal(t, "no recorded output", byID[id].Error, id)
	}
	nodes := byID["nodes"]
	assert.Equal(t, StatusFail, nodes.Status, "nodes b and c did not run")
	require.Len(t, nodes.Nodes, 3)
	for _, n := range nodes.Nodes[1:] {
		assert.Equal(t, "no recorded output", n.NotRun, n.Node)
	}
	assert.Equal(t, StatusPass, byID["fine"].Status)
	assert.Equal(t, GateNeedsAck, d.Gate)
}

// TestEvaluateRefusesDuplicateIDs checks that a recording listing an id twice is an error,
// rather than its last entry winning silently.
func TestEvaluateRefusesDuplicateIDs(t *testing.T) {
	s := spec(newReq("a", nil))
	recorded := &Decision{Requirements: []RequirementResult{
		{ID: "a", Status: StatusFail, StatusCode: intp(1)},
		{ID: "a", Status: StatusPass, StatusCode: intp(0)},
	}}
	r, err := New(Options{})
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), s, recorded)
	require.Nil(t, d)
	require.ErrorContains(t, err, `the recording lists requirement "a" twice (requirements[0] and requirements[1])`)
}

// TestCommandPanicFailsTheRequirement checks that a command that panics fails its
// requirement (fail closed) instead of crashing the process from a runner goroutine, where
// no caller could recover it (a Go crash exits 2, which means an invalid spec to the CLI).
func TestCommandPanicFailsTheRequirement(t *testing.T) {
	boom := func(context.Context, *command.Env) (*command.Result, error) { panic("boom") }
	d := mustRun(t, Options{}, spec(newReq("panics", boom), newReq("fine", exit(0))))
	assert.Equal(t, StatusFail, d.Requirements[0].Status)
	assert.Equal(t, "command test panicked: boom", d.Requirements[0].Error)
	assert.Equal(t, StatusPass, d.Requirements[1].Status)
	assert.Equal(t, GateNeedsAck, d.Gate)
}
