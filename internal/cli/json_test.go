package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/runner"
)

// TestWriteDecisionJSON checks that the streamed encoding of a decision is, byte for byte,
// what encoding the whole decision at once gives (the -o json output before it streamed),
// for decisions whose text could confuse where the requirements go.
func TestWriteDecisionJSON(t *testing.T) {
	code := 3
	req := func(id string) runner.RequirementResult {
		return runner.RequirementResult{ID: id, Status: runner.StatusFail, Message: "<b>&</b>", StatusCode: &code,
			Stdout: "out\n  \"requirements\": null\u0085\x7f\x00", Stderr: "\xff invalid UTF-8", OutputTrimmed: true,
			Duration: runner.Duration(1500 * time.Millisecond), Notes: []string{"a", "b"},
			Nodes: []runner.NodeResult{{Node: "n1", Status: runner.StatusFail, StatusCode: &code, Stdout: "x"},
				{Node: "n2", Status: runner.StatusSkipped, Excluded: "tainted"}}}
	}
	tests := []struct {
		name string
		d    runner.Decision
	}{
		{name: "nil requirements", d: runner.Decision{Gate: runner.GatePass}},
		{name: "no requirements", d: runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{}}},
		{name: "one", d: runner.Decision{Gate: runner.GateBlocked, RunID: "r", Requirements: []runner.RequirementResult{req("a")}}},
		{name: "several, error and cluster", d: runner.Decision{
			Gate: runner.GateNeedsAck, RunID: "r", Started: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
			Duration:     runner.Duration(time.Second),
			Error:        "run interrupted\n  \"requirements\": null",
			Requirements: []runner.RequirementResult{req("a"), req("b"), {ID: "c", Status: runner.StatusSkipped}},
			Cluster: map[string]any{"requirements": nil, "version": "1.31", "nodes": []any{map[string]any{
				"name": "n\u009b1", "requirements": []any{}}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole, streamed strings.Builder
			require.NoError(t, writeJSON(&whole, &tt.d))
			require.NoError(t, writeDecisionJSON(&streamed, &tt.d))
			assert.Equal(t, whole.String(), streamed.String())
			var back runner.Decision
			require.NoError(t, json.Unmarshal([]byte(streamed.String()), &back))
			assert.Len(t, back.Requirements, len(tt.d.Requirements))
		})
	}
}

// writeSizes records the size of each write.
type writeSizes struct{ sizes []int }

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// TestWriteDecisionJSONStreams checks that a decision is written requirement by requirement:
// no write holds more than one requirement's JSON, however many requirements there are.
func TestWriteDecisionJSONStreams(t *testing.T) {
	const n, size = 20, 256 << 10
	d := &runner.Decision{Gate: runner.GatePass}
	for i := range n {
		d.Requirements = append(d.Requirements, runner.RequirementResult{
			ID: "r" + strings.Repeat("x", i), Status: runner.StatusPass, Stdout: strings.Repeat("o", size)})
	}
	var w writeSizes
	require.NoError(t, writeDecisionJSON(&w, d))
	total, largest := 0, 0
	for _, s := range w.sizes {
		total += s
		largest = max(largest, s)
	}
	assert.Greater(t, total, n*size)
	assert.Less(t, largest, 2*size, "one write holds at most about one requirement (%d writes, %d bytes)", len(w.sizes), total)
}
