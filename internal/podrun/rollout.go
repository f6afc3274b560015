package podrun

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// orderedNode is one target of a job, in the order the job starts them.
type orderedNode struct {
	name   string // "" for the single pod of a job that does not fan out
	notRun string // why a node in scope cannot run the check (NotReady, ...), or ""
}

// rolloutOrder puts the nodes in scope, those that will run and those that cannot, in the
// order a fan-out takes them: by the value of the node label named label (integers first, in
// numeric order, then other values in string order, then nodes without the label), ties and
// label "" by node name. The same nodes and labels always give the same order.
func rolloutOrder(sc scope, nodes []corev1.Node, label string) []orderedNode {
	order := make([]orderedNode, 0, len(sc.run)+len(sc.notRun))
	for _, n := range sc.run {
		order = append(order, orderedNode{name: n})
	}
	for _, e := range sc.notRun {
		order = append(order, orderedNode{name: e.Node, notRun: e.Reason})
	}
	values := map[string]string{}
	if label != "" {
		for i := range nodes {
			if v, ok := nodes[i].Labels[label]; ok {
				values[nodes[i].Name] = v
			}
		}
	}
	slices.SortFunc(order, func(a, b orderedNode) int {
		va, oka := values[a.name]
		vb, okb := values[b.name]
		if c := compareOrderValues(va, oka, vb, okb); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return order
}

// compareOrderValues orders two values of the order label: present before absent, integers
// before other values and in numeric order, other values in string order.
func compareOrderValues(a string, hasA bool, b string, hasB bool) int {
	if hasA != hasB {
		if hasA {
			return -1
		}
		return 1
	}
	ia, errA := strconv.ParseInt(a, 10, 64)
	ib, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(ia, ib)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// rollout runs the targets of one job in order, at most limit at a time, and stops starting
// new ones once Job.OnTarget asks it to or ctx ends.
type rollout struct {
	c         *Client
	s         *space
	job       *Job
	container string
	limit     int
	// rolling is set when limit is below the number of targets: a target's place passes on
	// only once its pod is gone.
	rolling bool

	mu      sync.Mutex
	stopWhy string
}

// runTargets runs the job on every target of order and returns their results, in order,
// and a note describing the rollout ("" for a fan-out all at once that ran every node).
func (c *Client) runTargets(ctx context.Context, s *space, job *Job, container string, order []orderedNode) ([]TargetResult, string) {
	n := len(order)
	r := &rollout{c: c, s: s, job: job, container: container, limit: n}
	if job.FanOut && job.MaxParallelNodes > 0 && job.MaxParallelNodes < n {
		r.limit, r.rolling = job.MaxParallelNodes, true
	}
	results := make([]TargetResult, n)
	places := make(chan struct{}, r.limit)
	var wg sync.WaitGroup
	next := 0
	// Targets start here, one after the other in order: each takes a place (of limit) and,
	// unless it cannot run, one of the run's pods in flight (Options.MaxConcurrentPods).
	for next < n {
		select {
		case places <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || r.stopped() != "" {
			break
		}
		nd := order[next]
		if nd.notRun == "" {
			if c.sem.Acquire(ctx, 1) != nil {
				break
			}
			if r.stopped() != "" { // stopped while this target waited for the run's bound
				c.sem.Release(1)
				break
			}
		}
		i := next
		next++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-places }()
			results[i] = r.runNode(ctx, order[i])
		}()
	}
	wg.Wait()
	for i := next; i < n; i++ {
		results[i] = r.notStarted(ctx, order[i].name)
		r.done(ctx, results[i])
	}
	return results, r.note(n, n-next)
}

// runNode runs the job on one target, which holds one of the run's pods in flight unless it
// cannot run: it runs the pod, reports the result to OnTarget and, when the job rolls, waits
// until the pod is gone before the target's place (and its pod in flight) passes on.
func (r *rollout) runNode(ctx context.Context, nd orderedNode) TargetResult {
	if nd.notRun != "" {
		t := TargetResult{Node: nd.name, NotRun: nd.notRun, Err: fmt.Errorf("node %s not run: %s", nd.name, nd.notRun)}
		r.done(ctx, t)
		return t
	}
	defer r.c.sem.Release(1)
	res, tg := r.c.runOne(ctx, r.s, r.job, r.container, nd.name, time.Now())
	r.done(ctx, res)
	if tg != nil {
		if r.rolling {
			r.awaitGone(ctx, tg, nd.name)
		}
		r.s.unregister(tg.name)
	}
	return res
}

// awaitGone waits until the deleted pod of tg is gone from the API server. When it is still
// there after the client's goneTimeout (a node that no longer answers keeps its pods
// terminating), the rollout stops: starting another node would break its bound.
func (r *rollout) awaitGone(ctx context.Context, tg *target, node string) {
	timer := time.NewTimer(r.c.goneTimeout)
	defer timer.Stop()
	select {
	case <-tg.gone:
	case <-ctx.Done(): // the run ends; closing the client deletes what is left
	case <-timer.C:
		r.stop(fmt.Sprintf("stopped: the pod %s of node %s was still there %s after its deletion (is the node's kubelet answering?)",
			tg.name, node, r.c.goneTimeout))
	}
}

// done hands a node's final result to Job.OnTarget and stops the rollout when it says so.
// Once ctx has ended the rollout is interrupted, whatever OnTarget says of the nodes cut
// short: it is not their failure that stops it.
func (r *rollout) done(ctx context.Context, t TargetResult) {
	if !r.job.FanOut || r.job.OnTarget == nil {
		return
	}
	if why := r.job.OnTarget(t); why != "" && ctx.Err() == nil {
		r.stop(why)
	}
}

// stop records why the rollout stops; the first reason stands.
func (r *rollout) stop(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopWhy == "" {
		r.stopWhy = why
	}
}

func (r *rollout) stopped() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopWhy
}

// notStarted is the result of a target the rollout never reached: it stopped (the reason
// OnTarget gave), or ctx ended first (an error wrapping ctx's cause).
func (r *rollout) notStarted(ctx context.Context, node string) TargetResult {
	if why := r.stopped(); why != "" {
		return TargetResult{Node: node, NotRun: why, Err: fmt.Errorf("node %s not run: %s", node, why)}
	}
	t := TargetResult{Node: node, Err: &TimeoutError{Progress: "no pod created yet", Cause: context.Cause(ctx)}}
	if node != "" {
		t.NotRun = "not started: the rollout was interrupted (" + context.Cause(ctx).Error() + ")"
	}
	return t
}

// note describes a fan-out that rolled or stopped: how many nodes at a time, in which order,
// and how many were not started and why.
func (r *rollout) note(n, unstarted int) string {
	if !r.job.FanOut {
		return ""
	}
	why := r.stopped()
	var parts []string
	if r.rolling {
		by := "node name"
		if r.job.NodeOrderLabel != "" {
			by = "label " + r.job.NodeOrderLabel + ", then node name"
		}
		parts = append(parts, fmt.Sprintf("rolled out %s at a time over %d nodes, in order of %s", plural(r.limit, "node"), n, by))
	}
	if unstarted > 0 {
		if why == "" {
			why = "interrupted"
		}
		parts = append(parts, fmt.Sprintf("%s: %d of %d nodes not started", why, unstarted, n))
	}
	return strings.Join(parts, "; ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
