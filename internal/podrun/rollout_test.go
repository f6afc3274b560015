package podrun

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestRolloutOrder(t *testing.T) {
	labelled := func(name, value string) corev1.Node {
		n := node(name, corev1.ConditionTrue)
		if value != "" {
			n.Labels["order"] = value
		}
		return n
	}
	tests := []struct {
		name  string
		label string
		nodes []corev1.Node
		down  []string // nodes in scope that cannot run
		want  []string
	}{
		{name: "by name", nodes: []corev1.Node{labelled("c", "1"), labelled("a", "3"), labelled("b", "2")}, want: []string{"a", "b", "c"}},
		{name: "by label, integers in numeric order", label: "order",
			nodes: []corev1.Node{labelled("a", "10"), labelled("b", "9"), labelled("c", "010"), labelled("d", "1")},
			want:  []string{"d", "b", "a", "c"}}, // 10 and 010 tie: by name
		{name: "integers before words, words in string order, unlabelled last by name", label: "order",
			nodes: []corev1.Node{labelled("z", ""), labelled("y", "beta"), labelled("x", "alpha"), labelled("w", "2"), labelled("v", "")},
			want:  []string{"w", "x", "y", "v", "z"}},
		{name: "nodes that cannot run keep their place", label: "order",
			nodes: []corev1.Node{labelled("a", "3"), labelled("down", "2"), labelled("c", "1")}, down: []string{"down"},
			want: []string{"c", "down", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc scope
			for _, n := range tt.nodes {
				if contains(tt.down, n.Name) {
					sc.notRun = append(sc.notRun, Excluded{n.Name, "node NotReady"})
				} else {
					sc.run = append(sc.run, n.Name)
				}
			}
			var got []string
			for _, o := range rolloutOrder(sc, tt.nodes, tt.label) {
				got = append(got, o.name)
				assert.Equal(t, contains(tt.down, o.name), o.notRun != "", o.name)
			}
			assert.Equal(t, tt.want, got)
			// The same nodes listed in another order roll the same way.
			rev := append([]corev1.Node(nil), tt.nodes...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			var again []string
			for _, o := range rolloutOrder(sc, rev, tt.label) {
				again = append(again, o.name)
			}
			assert.Equal(t, tt.want, again)
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// podCounter watches the fake cluster's pods and records, from the watch alone, the order
// in which nodes got a pod and the most pods that existed at once.
type podCounter struct {
	mu      sync.Mutex
	live    map[string]bool
	peak    int
	created []string
}

func countPods(t *testing.T, ctx context.Context, fc *fakeCluster) *podCounter {
	t.Helper()
	pc := &podCounter{live: map[string]bool{}}
	w, err := fc.cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	go func() {
		defer w.Stop()
		for e := range w.ResultChan() {
			pod, ok := e.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pc.mu.Lock()
			switch e.Type {
			case "ADDED":
				pc.live[pod.Name] = true
				pc.created = append(pc.created, pod.Annotations[AnnotationNode])
				pc.peak = max(pc.peak, len(pc.live))
			case "DELETED":
				delete(pc.live, pod.Name)
			}
			pc.mu.Unlock()
		}
	}()
	return pc
}

func (pc *podCounter) get() (peak int, created []string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.peak, append([]string(nil), pc.created...)
}

func readyNodes(names ...string) []corev1.Node {
	out := make([]corev1.Node, len(names))
	for i, n := range names {
		out[i] = node(n, corev1.ConditionTrue)
	}
	return out
}

// recorder is a Job.OnTarget that records the nodes it was told about and stops the rollout
// at the first node whose exit code is not 0 or that has an error.
type recorder struct {
	mu    sync.Mutex
	nodes []string
}

func (r *recorder) done(t TargetResult) string {
	r.mu.Lock()
	r.nodes = append(r.nodes, t.Node)
	r.mu.Unlock()
	if t.Err != nil || t.ExitCode != 0 {
		return "stopped after " + t.Node + " failed"
	}
	return ""
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.nodes...)
}

// runStep runs a fan-out of template() over fc's nodes with c, one node at a time unless job
// says otherwise, under a kubelet that finishes pods as fc.behave says; it returns the result
// and the nodes Job.OnTarget heard of (the recorder stops at the first failure).
func runStep(t *testing.T, fc *fakeCluster, c *Client, job Job) (*Result, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fc.kubelet(t, ctx)
	rec := &recorder{}
	job.RequirementID, job.Namespace, job.Pod, job.FanOut = "step", "ns", template(), true
	job.Timeout, job.OutputLimit = 10*time.Second, 100
	if job.MaxParallelNodes == 0 {
		job.MaxParallelNodes = 1
	}
	if job.OnTarget == nil {
		job.OnTarget = rec.done
	}
	res, err := c.Run(ctx, job)
	require.NoError(t, err)
	require.NoError(t, ctx.Err(), "done before the deadline")
	return res, rec.list()
}

func TestRollingBoundsThePodsThatExist(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("max_parallel_nodes=", limit), func(t *testing.T) {
			fc := newFakeCluster(t, readyNodes("n6", "n5", "n4", "n3", "n2", "n1")...)
			fc.behave = func(string) *corev1.PodStatus { return exited(0, "") }
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pc := countPods(t, ctx, fc)
			c, err := NewForClientset(fc.cs, Options{RunID: "run-1"})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, c.Close(context.Background())) })

			res, _ := runStep(t, fc, c, Job{MaxParallelNodes: limit, OnTarget: func(TargetResult) string { return "" }})
			require.Len(t, res.Targets, 6)
			for _, tr := range res.Targets {
				assert.NoError(t, tr.Err, tr.Node)
			}
			// The counting watch gets its events asynchronously: wait for the last creation.
			require.Eventually(t, func() bool { _, c := pc.get(); return len(c) >= 6 }, 10*time.Second, 5*time.Millisecond)
			peak, created := pc.get()
			assert.LessOrEqual(t, peak, limit, "at most max_parallel_nodes pods exist at any moment")
			require.Len(t, created, 6)
			if limit == 1 {
				assert.Equal(t, []string{"n1", "n2", "n3", "n4", "n5", "n6"}, created, "one at a time, in order")
			} else {
				// Nodes are handed out in order, limit at a time, but their creations race:
				// the k-th pod created is for one of the first k+limit nodes of the order.
				order := []string{"n1", "n2", "n3", "n4", "n5", "n6"}
				for k, name := range created {
					assert.Less(t, slices.Index(order, name), k+limit, "pod %d was created for %s, beyond the first %d nodes", k+1, name, k+limit)
				}
			}
			assert.Contains(t, res.Notes, fmt.Sprintf("rolled out %s at a time over 6 nodes, in order of node name", plural(limit, "node")))
		})
	}
}

func TestRollingStopsAtTheFirstFailure(t *testing.T) {
	fc := newFakeCluster(t, readyNodes("a", "b", "c", "d", "e")...)
	fc.behave = func(n string) *corev1.PodStatus {
		if n == "c" {
			return exited(1, "")
		}
		return exited(0, "")
	}
	res, heard := runStep(t, fc, newTestClient(t, fc), Job{})
	require.Len(t, res.Targets, 5, "every node is reported")
	for _, tr := range res.Targets[:2] {
		assert.NoError(t, tr.Err, tr.Node)
		assert.Empty(t, tr.NotRun)
	}
	assert.Equal(t, 1, res.Targets[2].ExitCode)
	for _, tr := range res.Targets[3:] {
		assert.Equal(t, "stopped after c failed", tr.NotRun, tr.Node)
		assert.EqualError(t, tr.Err, "node "+tr.Node+" not run: stopped after c failed")
		assert.Empty(t, tr.Pod)
	}
	assert.Equal(t, int32(3), fc.created.Load(), "no pod after the failed node")
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, heard, "OnTarget hears of every node, in order")
	assert.Contains(t, res.Notes, "rolled out 1 node at a time over 5 nodes, in order of node name; stopped after c failed: 2 of 5 nodes not started")
}

// All at once, stop_on_failure still holds back the nodes waiting for the run's bound on pods
// in flight (2 here); the node already running finishes.
func TestStopHoldsBackNodesWaitingForTheRunsBound(t *testing.T) {
	fc := newFakeCluster(t, readyNodes("a", "b", "c", "d")...)
	release := make(chan struct{})
	fc.behave = func(n string) *corev1.PodStatus {
		switch n {
		case "a":
			return exited(1, "")
		case "b":
			return nil // finished below, once a has failed
		}
		return exited(0, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fc.kubelet(t, ctx)
	go finishWhen(ctx, fc, "b", release)
	c := newTestClient(t, fc) // MaxConcurrentPods: 2
	rec := &recorder{}
	var once sync.Once
	done := func(tr TargetResult) string {
		why := rec.done(tr)
		if tr.Node == "a" {
			once.Do(func() { close(release) })
		}
		return why
	}
	res, err := c.Run(ctx, Job{RequirementID: "step", Namespace: "ns", Pod: template(), FanOut: true,
		OnTarget: done, Timeout: 10 * time.Second, OutputLimit: 100})
	require.NoError(t, err)
	require.Len(t, res.Targets, 4)
	assert.Equal(t, 1, res.Targets[0].ExitCode)
	assert.NoError(t, res.Targets[1].Err, "the node already running finishes")
	assert.Equal(t, "stopped after a failed", res.Targets[2].NotRun)
	assert.Equal(t, "stopped after a failed", res.Targets[3].NotRun)
	assert.Equal(t, int32(2), fc.created.Load())
	assert.Equal(t, []string{"stopped after a failed: 2 of 4 nodes not started"}, res.Notes, "all at once: no rolling note")
}

// finishWhen finishes node's pod (exit 0) once release is closed.
func finishWhen(ctx context.Context, fc *fakeCluster, node string, release <-chan struct{}) {
	select {
	case <-release:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		pods, _ := fc.cs.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
		for _, p := range pods.Items {
			if p.Annotations[AnnotationNode] == node {
				p.Status = *exited(0, "")
				p.Spec.NodeName = node
				_, _ = fc.cs.CoreV1().Pods("ns").UpdateStatus(ctx, &p, metav1.UpdateOptions{})
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // the pod may not be created yet
	}
}

func TestRollingNodeThatCannotRunKeepsItsPlace(t *testing.T) {
	nodes := []corev1.Node{node("a", corev1.ConditionTrue), node("b-down", corev1.ConditionFalse), node("c", corev1.ConditionTrue)}
	fc := newFakeCluster(t, nodes...)
	fc.behave = func(string) *corev1.PodStatus { return exited(0, "") }
	res, heard := runStep(t, fc, newTestClient(t, fc), Job{})
	require.Len(t, res.Targets, 3)
	assert.NoError(t, res.Targets[0].Err)
	assert.Contains(t, res.Targets[1].NotRun, "NotReady")
	assert.Equal(t, "stopped after b-down failed", res.Targets[2].NotRun)
	assert.Equal(t, int32(1), fc.created.Load())
	assert.Equal(t, []string{"a", "b-down", "c"}, heard)
}

// Cancelling a rolling step stops it at once: the node that finished keeps its result, the
// running one is interrupted (its pod deleted), the rest are reported not started.
func TestRollingCancel(t *testing.T) {
	fc := newFakeCluster(t, readyNodes("a", "b", "c")...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fc.behave = func(n string) *corev1.PodStatus {
		if n == "a" {
			return exited(0, "")
		}
		defer cancel() // b is running: cancel the run
		return &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "tester", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	}
	fc.kubelet(t, context.Background())
	c := newTestClient(t, fc)
	rec := &recorder{}
	res, err := c.Run(ctx, Job{RequirementID: "step", Namespace: "ns", Pod: template(), FanOut: true,
		MaxParallelNodes: 1, OnTarget: rec.done, Timeout: time.Hour, OutputLimit: 100})
	require.NoError(t, err)
	require.Len(t, res.Targets, 3)
	a, b, cc := res.Targets[0], res.Targets[1], res.Targets[2]
	assert.NoError(t, a.Err, "finished before the cancel")
	var te *TimeoutError
	require.ErrorAs(t, b.Err, &te, "interrupted")
	assert.ErrorIs(t, b.Err, context.Canceled)
	assert.NotEmpty(t, b.Pod)
	assert.Empty(t, b.NotRun)
	assert.Equal(t, "not started: the rollout was interrupted (context canceled)", cc.NotRun)
	assert.ErrorIs(t, cc.Err, context.Canceled)
	assert.Empty(t, cc.Pod)
	assert.Equal(t, int32(2), fc.created.Load())
	assert.Equal(t, []string{"a", "b", "c"}, rec.list())
	assert.Contains(t, res.Notes, "rolled out 1 node at a time over 3 nodes, in order of node name; interrupted: 1 of 3 nodes not started")
	assert.Zero(t, podsLeft(t, fc), "the interrupted node's pod is deleted before Run returns")
}

// A deleted pod that does not go away (its node no longer answers) would break the bound if
// the next node started: the rollout stops instead.
func TestRollingStopsWhenAPodIsNotGone(t *testing.T) {
	fc := newFakeCluster(t, readyNodes("a", "b")...)
	fc.behave = func(string) *corev1.PodStatus { return exited(0, "") }
	var deletes atomic.Int32
	fc.cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if deletes.Add(1) == 1 {
			return true, nil, nil // accepted, but the pod stays (Close deletes it later)
		}
		return false, nil, nil
	})
	c := newTestClient(t, fc)
	c.goneTimeout = 50 * time.Millisecond
	res, _ := runStep(t, fc, c, Job{OnTarget: func(TargetResult) string { return "" }})
	require.Len(t, res.Targets, 2)
	assert.NoError(t, res.Targets[0].Err, "node a's own result stands")
	assert.Regexp(t, `^stopped: the pod preflight-step-\d+ of node a was still there 50ms after its deletion`, res.Targets[1].NotRun)
	assert.Equal(t, int32(1), fc.created.Load())
}

func TestNotStartedSinglePod(t *testing.T) {
	fc := newFakeCluster(t)
	c := newTestClient(t, fc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := c.space(context.Background(), "ns")
	require.NoError(t, err)
	res, _ := c.runTargets(ctx, s, &Job{RequirementID: "r", Namespace: "ns", Pod: template()}, "tester", []orderedNode{{}})
	require.Len(t, res, 1)
	assert.Empty(t, res[0].NotRun, "a single pod is not a node")
	assert.EqualError(t, res[0].Err, "cancelled (no pod created yet)")
	assert.ErrorIs(t, res[0].Err, context.Canceled)
}
