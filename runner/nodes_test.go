package runner

import (
	"context"
	"fmt"
	"sync"
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

// fanOut returns a command that runs on n nodes at once, as the scheduler does: it reports
// its scope, then each node from its own goroutine as that node finishes; node i exits with
// codes(i). finish, when not nil, holds node i until it is closed.
func fanOut(n int, codes func(i int) int, finish func(i int) <-chan struct{}) command.RunFunc {
	return func(ctx context.Context, env *command.Env) (*command.Result, error) {
		if env.OnNodeScope != nil {
			env.OnNodeScope(n)
		}
		outs := make([]command.Output, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if finish != nil {
					select {
					case <-finish(i):
					case <-ctx.Done():
					}
				}
				outs[i] = command.Output{Node: fmt.Sprintf("node-%03d", i), StatusCode: codes(i),
					Stdout: fmt.Sprintf("out %d", i), Duration: time.Duration(i+1) * time.Millisecond}
				if env.OnNodeDone != nil {
					env.OnNodeDone(outs[i])
				}
			})
		}
		wg.Wait()
		return &command.Result{Outputs: outs}, nil
	}
}

// TestNodeEvents checks that a per-node command's nodes are reported one by one as they
// finish, analysed as the decision shows them, before the requirement's finished event.
func TestNodeEvents(t *testing.T) {
	const n = 50
	codes := func(i int) int {
		switch {
		case i%10 == 3:
			return 1
		case i%10 == 7:
			return 2
		}
		return 0
	}
	var log eventLog
	d := mustRun(t, Options{OnEvent: log.on}, spec(newReq("nodes", fanOut(n, codes, nil)), newReq("single", exit(0))))
	assert.False(t, log.overlap.Load(), "node events come one at a time too")

	evs := log.of("nodes")
	require.Len(t, evs, n+2, "started, one event per node, finished")
	assert.Equal(t, EventStarted, evs[0].Type)
	assert.Equal(t, EventFinished, evs[n+1].Type)
	final := map[string]NodeResult{}
	for _, nr := range evs[n+1].Result.Nodes {
		final[nr.Node] = nr
	}
	seen := map[string]bool{}
	for _, e := range evs[1 : n+1] {
		require.Equal(t, EventNode, e.Type)
		require.NotNil(t, e.Node)
		assert.Equal(t, n, e.Nodes, "each node event says how many nodes there are")
		assert.Equal(t, 1, e.Attempt)
		assert.False(t, seen[e.Node.Node], "node %s reported once", e.Node.Node)
		seen[e.Node.Node] = true
		assert.Empty(t, cmp.Diff(final[e.Node.Node], *e.Node, cmpopts.IgnoreFields(NodeResult{}, "Err")),
			"the node event shows what the decision shows for %s", e.Node.Node)
	}
	assert.Len(t, seen, n)
	assert.Equal(t, StatusFail, byID(d, "nodes").Status)
	assert.Equal(t, "error on 5 of 50 nodes (node-003, node-013, node-023, node-033, node-043): bad", byID(d, "nodes").Message)
	for _, e := range log.of("single") {
		assert.NotEqual(t, EventNode, e.Type, "a command without nodes has no node events")
	}
	for i, e := range log.events {
		assert.False(t, e.At.IsZero(), "event %d has its time", i)
		if i > 0 {
			assert.False(t, e.At.Before(log.events[i-1].At), "event times follow their order")
		}
	}
}

// TestNodeEventsAsNodesFinish holds every node but one and checks that the free node's event
// arrives while the others still run: progress, not a summary at the end.
func TestNodeEventsAsNodesFinish(t *testing.T) {
	const n = 4
	gates := make([]chan struct{}, n)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	close(gates[2])
	got := make(chan Event, 2*n+2)
	r, err := New(Options{OnEvent: func(e Event) { got <- e }})
	require.NoError(t, err)
	done := make(chan *Decision, 1)
	go func() {
		d, _ := r.Run(context.Background(), spec(newReq("nodes", fanOut(n, func(int) int { return 0 }, func(i int) <-chan struct{} { return gates[i] }))))
		done <- d
	}()
	require.Equal(t, EventStarted, (<-got).Type)
	e := <-got
	require.Equal(t, EventNode, e.Type)
	assert.Equal(t, "node-002", e.Node.Node)
	assert.Equal(t, StatusPass, e.Node.Status)
	select {
	case <-done:
		t.Fatal("the run ended while three nodes were held")
	default:
	}
	for _, i := range []int{0, 1, 3} {
		close(gates[i])
		e := <-got
		require.Equal(t, EventNode, e.Type)
		assert.Equal(t, fmt.Sprintf("node-%03d", i), e.Node.Node)
	}
	assert.Equal(t, StatusPass, (<-done).Requirements[0].Status)
}

// TestNodeEventsSpendNoMoreBudget checks that analysing each node as it finishes does not
// evaluate its conditions a second time for the decision: the smallest CEL budget that lets
// the run pass without events lets it pass with them too.
func TestNodeEventsSpendNoMoreBudget(t *testing.T) {
	expr := compile(t, `stdout.startsWith("out") && status_code == 0`, analyzer.ScopeCondition)
	ok := requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"}, Condition: &requirement.Condition{Expr: expr}}
	bad := requirement.Result{Status: requirement.StatusError, Message: requirement.Message{Text: "bad"}}
	s := spec(newReq("nodes", fanOut(20, func(int) int { return 0 }, nil), results(ok, bad)))
	budget := uint64(0)
	for b := uint64(1); b <= 10000; b++ {
		if mustRun(t, Options{CostBudget: b}, s).Gate == GatePass {
			budget = b
			break
		}
	}
	require.NotZero(t, budget, "some budget lets the run pass")
	require.NotEqual(t, GatePass, mustRun(t, Options{CostBudget: budget - 1}, s).Gate, "the budget is the smallest that passes")
	var nodeEvents int
	d := mustRun(t, Options{CostBudget: budget, OnEvent: func(e Event) {
		if e.Type == EventNode {
			nodeEvents++
		}
	}}, s)
	assert.Equal(t, 20, nodeEvents)
	assert.Equal(t, GatePass, d.Gate, "with node events the same budget suffices: %s", d.Requirements[0].Message)
}

// TestNodeEventsOfRetries checks that every attempt of a retried per-node command reports
// its nodes, numbered with the attempt, before that attempt's event.
func TestNodeEventsOfRetries(t *testing.T) {
	var calls int
	var mu sync.Mutex
	run := command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
		mu.Lock()
		calls++
		code := 1
		if calls == 3 {
			code = 0
		}
		mu.Unlock()
		return fanOut(3, func(int) int { return code }, nil)(ctx, env)
	})
	var log eventLog
	d := mustRun(t, Options{OnEvent: log.on}, spec(newReq("r", run, retry(requirement.Retry{Interval: time.Millisecond, Timeout: 5 * time.Second}))))
	require.Equal(t, 3, d.Requirements[0].Attempts)
	var got []string
	for _, e := range log.of("r") {
		switch e.Type {
		case EventNode:
			got = append(got, fmt.Sprintf("node %d %s", e.Attempt, e.Node.Status))
		case EventAttempt:
			got = append(got, fmt.Sprintf("attempt %d %s", e.Attempt, e.Result.Status))
		default:
			got = append(got, string(e.Type))
		}
	}
	assert.Equal(t, []string{"started",
		"node 1 fail", "node 1 fail", "node 1 fail", "attempt 1 fail",
		"node 2 fail", "node 2 fail", "node 2 fail", "attempt 2 fail",
		"node 3 pass", "node 3 pass", "node 3 pass", "attempt 3 pass", "finished"}, got)
}

// TestNodeEventsFromMisbehavingCommands: a command that reports a node twice, or an output
// other than the one it returns, or reports after it returned, changes neither the decision
// nor the order of events.
func TestNodeEventsFromMisbehavingCommands(t *testing.T) {
	var late func(command.Output) string
	run := command.RunFunc(func(_ context.Context, env *command.Env) (*command.Result, error) {
		env.OnNodeDone(command.Output{Node: "a", StatusCode: 0, Duration: time.Millisecond})
		env.OnNodeDone(command.Output{Node: "b", StatusCode: 0, Duration: time.Millisecond})
		env.OnNodeDone(command.Output{Node: "b", StatusCode: 2, Duration: time.Millisecond}) // twice
		env.OnNodeDone(command.Output{Node: ""})                                             // no node: ignored
		late = env.OnNodeDone
		return &command.Result{Outputs: []command.Output{
			{Node: "a", StatusCode: 1, Duration: time.Millisecond}, // not what it reported
			{Node: "b", StatusCode: 0, Duration: time.Millisecond},
		}}, nil
	})
	var log eventLog
	d := mustRun(t, Options{OnEvent: log.on}, spec(newReq("x", run)))
	late(command.Output{Node: "c", StatusCode: 1, Duration: time.Millisecond})
	r := d.Requirements[0]
	assert.Equal(t, StatusFail, r.Status, "the returned outputs decide")
	assert.Equal(t, "error on 1 of 2 nodes (a): bad", r.Message)
	var types []EventType
	for _, e := range log.of("x") {
		types = append(types, e.Type)
	}
	assert.Equal(t, []EventType{EventStarted, EventNode, EventNode, EventNode, EventFinished}, types, "the late report is dropped")
}
