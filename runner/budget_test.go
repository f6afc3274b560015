package runner

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// printing returns a command whose one output is stdout and stderr, exit code 0.
func printing(stdout, stderr string) command.RunFunc {
	return func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{Stdout: stdout, Stderr: stderr}}}, nil
	}
}

// sized: success only when the condition saw the whole output, so that a trimmed decision
// whose status is pass proves the analysis was not trimmed.
func sized(t *testing.T, stdout, stderr int) reqOpt {
	expr := compile(t, "stdout.size() == "+strconv.Itoa(stdout)+" && stderr.size() == "+strconv.Itoa(stderr), analyzer.ScopeCondition)
	return results(
		requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "saw it all"},
			Condition: &requirement.Condition{Expr: expr}},
		requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "saw a part"}},
	)
}

// kept is what the decision kept of one requirement's or node's output.
type kept struct {
	stdout, stderr int
	trimmed        bool
}

// TestOutputBudget runs requirements one after the other (Parallel 1, so in spec order)
// under a small run-wide budget: each keeps what is left of it, the ones past it are marked
// and noted, and every condition still saw the whole output.
func TestOutputBudget(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		budget int
		reqs   []*requirement.Requirement
		want   []kept
	}{
		{name: "everything fits", budget: 5000,
			reqs: []*requirement.Requirement{
				newReq("a", printing(x(1000), x(10)), sized(t, 1000, 10)),
				newReq("b", printing(x(1000), ""), sized(t, 1000, 0)),
			},
			want: []kept{{1000, 10, false}, {1000, 0, false}}},
		{name: "the second is cut, the third keeps nothing", budget: 1500,
			reqs: []*requirement.Requirement{
				newReq("a", printing(x(1000), ""), sized(t, 1000, 0)),
				newReq("b", printing(x(1000), ""), sized(t, 1000, 0)),
				newReq("c", printing(x(1000), ""), sized(t, 1000, 0)),
			},
			want: []kept{{1000, 0, false}, {500, 0, true}, {0, 0, true}}},
		{name: "stderr after a cut stdout keeps nothing", budget: 700,
			reqs: []*requirement.Requirement{
				newReq("a", printing(x(1000), x(100)), sized(t, 1000, 100)),
			},
			want: []kept{{700, 0, true}}},
		{name: "exactly the budget is not trimmed", budget: 1100,
			reqs: []*requirement.Requirement{
				newReq("a", printing(x(1000), x(100)), sized(t, 1000, 100)),
				newReq("b", printing("", ""), sized(t, 0, 0)),
			},
			want: []kept{{1000, 100, false}, {0, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			finished := map[string]RequirementResult{}
			d := mustRun(t, Options{Parallel: 1, OutputBudget: tt.budget, OnEvent: func(e Event) {
				if e.Type == EventFinished {
					finished[e.RequirementID] = *e.Result
				}
			}}, spec(tt.reqs...))
			require.Len(t, finished, len(tt.want))
			for i, w := range tt.want {
				r := d.Requirements[i]
				assert.Equal(t, StatusPass, r.Status, "%s: the analysis saw the whole output: %s", r.ID, r.Message)
				assert.Equal(t, w, kept{len(r.Stdout), len(r.Stderr), r.OutputTrimmed}, r.ID)
				if w.trimmed {
					require.NotEmpty(t, r.Notes, r.ID)
					assert.Contains(t, r.Notes[len(r.Notes)-1], "output trimmed: the run's output budget of "+strconv.Itoa(tt.budget)+" bytes (Options.OutputBudget) was used up")
				} else {
					assert.Empty(t, r.Notes, r.ID)
				}
				// Events carry what the decision keeps.
				assert.Equal(t, r.Stdout, finished[r.ID].Stdout, r.ID)
				assert.Equal(t, r.OutputTrimmed, finished[r.ID].OutputTrimmed, r.ID)
			}
			assert.Equal(t, GatePass, d.Gate, "trimming the kept output never changes the gate")
		})
	}
}

// TestOutputBudgetNodes checks that a per-node command's outputs are charged node by node
// (in node order, after the requirement's own copy of the deciding output) and that each
// trimmed node is marked.
func TestOutputBudgetNodes(t *testing.T) {
	out := strings.Repeat("n", 400)
	fanout := func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{
			{Node: "a", Stdout: out}, {Node: "b", Stdout: out}, {Node: "c", Stdout: out},
		}}, nil
	}
	d := mustRun(t, Options{OutputBudget: 1000}, spec(newReq("nodes", fanout, sized(t, 400, 0))))
	r := d.Requirements[0]
	assert.Equal(t, StatusPass, r.Status, r.Message)
	assert.True(t, r.OutputTrimmed)
	assert.Equal(t, kept{400, 0, false}, kept{len(r.Stdout), len(r.Stderr), false}, "the deciding output is charged first")
	require.Len(t, r.Nodes, 3)
	var got []kept
	for _, n := range r.Nodes {
		got = append(got, kept{len(n.Stdout), len(n.Stderr), n.OutputTrimmed})
	}
	assert.Equal(t, []kept{{400, 0, false}, {200, 0, true}, {0, 0, true}}, got)
	assert.Contains(t, strings.Join(r.Notes, "\n"), "keeps 1000 of its 1600 bytes of output")
}

// TestOutputBudgetUTF8 checks that a cut never splits a UTF-8 sequence.
func TestOutputBudgetUTF8(t *testing.T) {
	d := mustRun(t, Options{OutputBudget: 5}, spec(newReq("utf8", printing("ééé", ""))))
	r := d.Requirements[0]
	assert.Equal(t, "éé", r.Stdout, "5 bytes would end inside the third é")
	assert.True(t, r.OutputTrimmed)
}

// TestOutputBudgetRetry checks that a retrying requirement's attempts give their bytes back
// when a later attempt replaces them: only the kept attempt counts against the budget.
func TestOutputBudgetRetry(t *testing.T) {
	n := 0
	flaky := func(context.Context, *command.Env) (*command.Result, error) {
		n++
		code := 1
		if n == 5 {
			code = 0
		}
		return &command.Result{Outputs: []command.Output{{StatusCode: code, Stdout: strings.Repeat("r", 1000)}}}, nil
	}
	d := mustRun(t, Options{Parallel: 1, OutputBudget: 1500}, spec(
		newReq("retries", flaky, retry(requirement.Retry{Interval: time.Millisecond, Timeout: time.Minute})),
		newReq("after", printing(strings.Repeat("y", 1000), "")),
	))
	r := d.Requirements[0]
	require.Equal(t, StatusPass, r.Status, r.Message)
	assert.Equal(t, 5, r.Attempts)
	assert.Len(t, r.Stdout, 1000, "four replaced attempts are not charged")
	assert.False(t, r.OutputTrimmed)
	assert.Len(t, d.Requirements[1].Stdout, 500)
	assert.True(t, d.Requirements[1].OutputTrimmed)
}

// TestEvaluateTrimmedRecording checks that a recorded output marked output_trimmed is
// replayed as incomplete, with a note saying so.
func TestEvaluateTrimmedRecording(t *testing.T) {
	recorded := &Decision{Requirements: []RequirementResult{
		{ID: "a", Status: StatusPass, StatusCode: intp(0), Stdout: "partial", OutputTrimmed: true},
		{ID: "b", Status: StatusPass, StatusCode: intp(0), Stdout: "whole"},
	}}
	r, err := New(Options{})
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), spec(newReq("a", nil), newReq("b", nil)), recorded)
	require.NoError(t, err)
	assert.Contains(t, d.Requirements[0].Notes, "the recorded output is incomplete: it was truncated or trimmed when it was recorded")
	assert.Empty(t, d.Requirements[1].Notes)
}

// TestOutputHeldOnce checks that a command's output is not copied on its way to the
// decision and the events: the result and every event that carries it share the command's
// bytes (each copy of 1 MiB outputs would count against the run's memory).
func TestOutputHeldOnce(t *testing.T) {
	out := strings.Repeat("o", 1000)
	var events []*RequirementResult
	d := mustRun(t, Options{OnEvent: func(e Event) {
		if e.Result != nil {
			events = append(events, e.Result)
		}
	}}, spec(newReq("once", printing(out, ""), retry(requirement.Retry{Interval: time.Millisecond, Timeout: time.Minute}))))
	require.Len(t, events, 2, "one attempt, then finished")
	assert.Same(t, unsafe.StringData(out), unsafe.StringData(d.Requirements[0].Stdout), "the decision")
	for _, e := range events {
		assert.Same(t, unsafe.StringData(out), unsafe.StringData(e.Stdout), "an event")
	}
}
