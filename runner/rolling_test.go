package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// rolling is a fan-out command that reports each node to Env.OnNodeDone as it finishes,
// as the scheduler command does, and, like a rolling step with stop_on_failure, reports the
// nodes after the first error as not run. It records what OnNodeDone returned.
type rolling struct {
	outs     []command.Output
	mu       sync.Mutex
	statuses map[string]string
}

func (f *rolling) Run(_ context.Context, env *command.Env) (*command.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = map[string]string{}
	res := &command.Result{}
	stopped := ""
	for _, o := range f.outs {
		if o.Duration == 0 {
			o.Duration = time.Millisecond
		}
		if stopped != "" {
			o = command.Output{Node: o.Node, StatusCode: command.CodeGeneralError, NotRun: stopped,
				Err: fmt.Errorf("node %s not run: %s", o.Node, stopped)}
		}
		st := env.OnNodeDone(o)
		f.statuses[o.Node] = st
		if st == "error" && stopped == "" {
			stopped = "stopped after " + o.Node + " failed"
		}
		res.Outputs = append(res.Outputs, o)
	}
	return res, nil
}

// OnNodeDone gives a fan-out each node's status as the requirement's results decide it,
// and a rollout's nodes not started count as failures.
func TestOnNodeDoneReturnsEachNodesStatus(t *testing.T) {
	f := &rolling{outs: []command.Output{
		{Node: "n1"},
		{Node: "n2", StatusCode: 2},
		{Node: "n3", Err: errors.New("pod refused")},
		{Node: "n4"},
		{Node: "n5", StatusCode: 2},
	}}
	d := mustRun(t, Options{}, spec(newReq("step", nil, withCommand(f))))
	r := d.Requirements[0]
	assert.Equal(t, map[string]string{"n1": "success", "n2": "warn", "n3": "error", "n4": "error", "n5": "error"}, f.statuses)
	assert.Equal(t, StatusFail, r.Status)
	assert.Equal(t, GateNeedsAck, d.Gate, "nodes not started hold the gate")
	want := map[string]Status{"n1": StatusPass, "n2": StatusWarn, "n3": StatusFail, "n4": StatusFail, "n5": StatusFail}
	for _, n := range r.Nodes {
		assert.Equal(t, want[n.Node], n.Status, n.Node)
		assert.Equal(t, statusName(n.Status), f.statuses[n.Node], "the hook and the decision agree on %s", n.Node)
	}
	n4 := r.Nodes[3]
	assert.Equal(t, "stopped after n3 failed", n4.NotRun)
	assert.Equal(t, "not run: stopped after n3 failed", n4.Message)
	assert.Equal(t, "error on 3 of 5 nodes: n3: could not check; n4, n5: not run: stopped after n3 failed", r.Message)
}

// Without events too (a rolling step needs its nodes' statuses all the same), the analysis
// made as each node finished is the one the decision shows: a node costs the run's CEL budget
// what one evaluation of its output costs, measured on an output that is not a node's.
func TestNodeAnalysisSpendsTheBudgetOnce(t *testing.T) {
	res := []requirement.Result{
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: &requirement.Condition{Expr: compile(t, `[1,2,3,4,5].all(x, stdout.contains("ok"))`, analyzer.ScopeCondition)}},
		{Status: requirement.StatusError, Message: requirement.Message{Text: "bad"}},
	}
	run := func(nodes int, budget uint64) *RequirementResult {
		f := &rolling{}
		for i := range nodes {
			f.outs = append(f.outs, command.Output{Node: fmt.Sprintf("n%d", i), Stdout: "ok"})
		}
		d := mustRun(t, Options{CostBudget: budget}, spec(newReq("step", nil, withCommand(f), results(res...))))
		return &d.Requirements[0]
	}
	single := func(budget uint64) Status {
		d := mustRun(t, Options{CostBudget: budget}, spec(newReq("one", nil, withCommand(command.RunFunc(
			func(context.Context, *command.Env) (*command.Result, error) {
				return &command.Result{Outputs: []command.Output{{Stdout: "ok"}}}, nil
			})), results(res...))))
		return d.Requirements[0].Status
	}
	// The budget one evaluation needs (one output, not a node): the smallest that passes.
	lo, hi := uint64(1), uint64(1_000_000)
	for lo < hi {
		mid := (lo + hi) / 2
		if single(mid) == StatusPass {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	one := lo
	require.Greater(t, one, uint64(10), "the condition has a cost")
	r := run(4, 4*one)
	assert.Equal(t, StatusPass, r.Status, "four nodes fit four nodes' budget: %s %s", r.Message, r.ConditionError)
	r = run(4, 4*one-1)
	assert.Equal(t, StatusFail, r.Status, "and not one less")
	assert.Contains(t, r.ConditionError, "budget")
}
