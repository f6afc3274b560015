package podrun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster is a fake clientset with a name generator, an authorizer and a kubelet that
// finishes pods as behave says.
type fakeCluster struct {
	cs      *fake.Clientset
	created atomic.Int32
	// behave returns the status to give a new pod on node (node "" for a single pod), or nil
	// to leave it pending.
	behave func(node string) *corev1.PodStatus
	// deny lists "verb resource[/sub]" permissions the authorizer denies; ssarErr fails them all.
	deny    map[string]bool
	ssarErr error
}

func newFakeCluster(t *testing.T, nodes ...corev1.Node) *fakeCluster {
	t.Helper()
	objs := make([]runtime.Object, len(nodes))
	for i := range nodes {
		objs[i] = &nodes[i]
	}
	fc := &fakeCluster{cs: fake.NewClientset(objs...), deny: map[string]bool{}}
	// The fake's watches hand out the tracker's own objects, which an informer owns (and its
	// transform changes) once received; a real client decodes a new object per event.
	fc.cs.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := fc.cs.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		return true, watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
			if e.Object != nil {
				e.Object = e.Object.DeepCopyObject()
			}
			return e, true
		}), nil
	})
	var seq atomic.Int32
	fc.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%05d", pod.GenerateName, seq.Add(1))
		}
		pod.UID = types.UID("uid-" + pod.Name)
		fc.created.Add(1)
		return false, nil, nil
	})
	fc.cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if fc.ssarErr != nil {
			return true, nil, fc.ssarErr
		}
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := r.Spec.ResourceAttributes
		key := ra.Verb + " " + ra.Resource
		if ra.Subresource != "" {
			key += "/" + ra.Subresource
		}
		r.Status.Allowed = !fc.deny[key]
		return true, r, nil
	})
	return fc
}

// kubelet watches the run's pods and sets their status once, as behave says.
func (fc *fakeCluster) kubelet(t *testing.T, ctx context.Context) {
	t.Helper()
	w, err := fc.cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.ResultChan():
				if !ok {
					return
				}
				pod, _ := e.Object.(*corev1.Pod)
				if e.Type != "ADDED" || pod == nil {
					continue
				}
				node := pod.Annotations[AnnotationNode]
				st := fc.behave(node)
				if st == nil {
					continue
				}
				pod = pod.DeepCopy()
				pod.Status = *st
				pod.Spec.NodeName = node
				if node == "" {
					pod.Spec.NodeName = "somewhere"
				}
				_, _ = fc.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			}
		}
	}()
}

func exited(code int32, msg string) *corev1.PodStatus {
	return &corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "tester", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg}},
	}}}
}

func podsLeft(t *testing.T, fc *fakeCluster) int {
	t.Helper()
	l, err := fc.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return len(l.Items)
}

func newTestClient(t *testing.T, fc *fakeCluster) *Client {
	t.Helper()
	c, err := NewForClientset(fc.cs, Options{RunID: "run-1", MaxConcurrentPods: 2})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, c.Close(ctx))
		assert.Zero(t, podsLeft(t, fc), "no pod may be left")
	})
	return c
}

func TestRunFanOut(t *testing.T) {
	tainted := node("d-tainted", corev1.ConditionTrue, corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoSchedule})
	fc := newFakeCluster(t,
		node("a", corev1.ConditionTrue), node("b", corev1.ConditionTrue),
		node("c-down", corev1.ConditionFalse), tainted)
	fc.behave = func(n string) *corev1.PodStatus {
		if n == "b" {
			return exited(3, "")
		}
		return exited(0, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fc.kubelet(t, ctx)
	c := newTestClient(t, fc)

	var mu sync.Mutex
	var progress []string
	reported := map[string]TargetResult{}
	res, err := c.Run(ctx, Job{RequirementID: "license", Namespace: "ns", Pod: template(), FanOut: true, Timeout: 10 * time.Second, OutputLimit: 1 << 20,
		OnScope: func(n int) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, fmt.Sprintf("scope %d", n))
		},
		OnTarget: func(tr TargetResult) string {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, "node")
			reported[tr.Node] = tr
			return ""
		}})
	require.NoError(t, err)
	require.Len(t, res.Targets, 3, "every node in scope is accounted for")
	assert.Equal(t, []string{"scope 3", "node", "node", "node"}, progress, "the scope first, then each node in scope, not-run ones included")
	for _, tr := range res.Targets {
		assert.Equal(t, tr, reported[tr.Node], "node %s: reported as returned", tr.Node)
	}
	a, b, down := res.Targets[0], res.Targets[1], res.Targets[2]
	assert.Equal(t, "a", a.Node)
	assert.NoError(t, a.Err)
	assert.Equal(t, 0, a.ExitCode)
	assert.Equal(t, "fake logs", a.Output, "the fake clientset's log body")
	assert.Equal(t, "b", b.Node)
	assert.NoError(t, b.Err)
	assert.Equal(t, 3, b.ExitCode)
	assert.Equal(t, "c-down", down.Node)
	assert.Contains(t, down.NotRun, "NotReady")
	assert.Error(t, down.Err, "a node that cannot run the check fails closed")
	assert.Equal(t, []Excluded{{"d-tainted", "taint gpu:NoSchedule not tolerated"}}, res.Excluded)
	assert.Equal(t, int32(2), fc.created.Load(), "pods only for nodes in scope")
	assert.False(t, res.Privileged)
}

func TestRunNoNodeInScope(t *testing.T) {
	fc := newFakeCluster(t, node("a", corev1.ConditionTrue, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}))
	c := newTestClient(t, fc)
	res, err := c.Run(context.Background(), Job{RequirementID: "r", Namespace: "ns", Pod: template(), FanOut: true})
	require.NoError(t, err)
	require.Len(t, res.Targets, 1)
	assert.EqualError(t, res.Targets[0].Err, "NoNodes: no node is in scope (1 excluded)")
	res, err = c.Run(context.Background(), Job{RequirementID: "r", Namespace: "ns", Pod: template(), FanOut: true, NodeSelector: map[string]string{"gpu": "yes"}})
	require.NoError(t, err)
	assert.EqualError(t, res.Targets[0].Err, "NoNodes: no node matches node_selector gpu=yes")
}

func TestRunFailFastUnschedulable(t *testing.T) {
	fc := newFakeCluster(t)
	fc.behave = func(string) *corev1.PodStatus {
		return &corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
			Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fc.kubelet(t, ctx)
	c := newTestClient(t, fc)
	res, err := c.Run(ctx, Job{RequirementID: "r", Namespace: "ns", Pod: template(), Timeout: time.Minute})
	require.NoError(t, err)
	var f *Failure
	require.ErrorAs(t, res.Targets[0].Err, &f)
	assert.Equal(t, "Unschedulable", f.Reason)
	assert.Equal(t, "0/3 nodes are available: 3 Insufficient cpu.", f.Message)
	assert.NoError(t, ctx.Err(), "failed fast, before the deadline")
}

func TestRunCreateForbidden(t *testing.T) {
	fc := newFakeCluster(t)
	msg := `pods "preflight-r-x" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "etc")`
	fc.cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "preflight-r-x", errors.New(`violates PodSecurity "baseline:latest": hostPath volumes (volume "etc")`))
	})
	c := newTestClient(t, fc)
	res, err := c.Run(context.Background(), Job{RequirementID: "r", Namespace: "ns", Pod: template()})
	require.NoError(t, err)
	var f *Failure
	require.ErrorAs(t, res.Targets[0].Err, &f)
	assert.Equal(t, "Forbidden", f.Reason)
	assert.Equal(t, msg, f.Message)
}

func TestRunPermissionsUpFront(t *testing.T) {
	fc := newFakeCluster(t, node("a", corev1.ConditionTrue))
	fc.deny["delete pods"] = true
	fc.deny["get pods/log"] = true
	fc.deny["list nodes"] = true
	c := newTestClient(t, fc)
	_, err := c.Run(context.Background(), Job{RequirementID: "r", Namespace: "team", Pod: template(), FanOut: true})
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, err, `insufficient permissions in namespace "team": cannot delete pods; cannot get pods/log; cannot list nodes (cluster-wide); nothing was created`)
	assert.Zero(t, fc.created.Load(), "nothing is created when it could not be deleted")

	fc2 := newFakeCluster(t)
	fc2.ssarErr = apierrors.NewServiceUnavailable("authorizer down")
	c2 := newTestClient(t, fc2)
	_, err = c2.Run(context.Background(), Job{RequirementID: "r", Namespace: "team", Pod: template()})
	require.ErrorAs(t, err, &pe)
	assert.Len(t, pe.Unknown, 7, "every check that could not be made is unknown")
	assert.Contains(t, err.Error(), "could not verify permission to create pods: authorizer down")
	assert.Zero(t, fc2.created.Load(), "an unknown permission fails closed")
}

func TestRunCancelDeletesPods(t *testing.T) {
	nodes := []corev1.Node{node("a", corev1.ConditionTrue), node("b", corev1.ConditionTrue), node("c", corev1.ConditionTrue)}
	fc := newFakeCluster(t, nodes...)
	var running sync.WaitGroup
	running.Add(2) // MaxConcurrentPods is 2
	fc.behave = func(string) *corev1.PodStatus {
		defer running.Done()
		return &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "tester", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fc.kubelet(t, context.Background())
	c := newTestClient(t, fc)
	go func() { running.Wait(); cancel() }()
	res, err := c.Run(ctx, Job{RequirementID: "r", Namespace: "ns", Pod: template(), FanOut: true, Timeout: time.Hour})
	require.NoError(t, err)
	require.Len(t, res.Targets, 3)
	for _, tr := range res.Targets {
		var te *TimeoutError
		require.ErrorAs(t, tr.Err, &te, tr.Node)
		assert.ErrorIs(t, tr.Err, context.Canceled)
	}
	assert.Equal(t, int32(2), fc.created.Load(), "pods in flight are bounded")
	assert.Zero(t, podsLeft(t, fc), "pods are deleted as the run is cancelled")
}

func TestEventFailsFast(t *testing.T) {
	fc := newFakeCluster(t)
	c := newTestClient(t, fc)
	s, err := c.space(context.Background(), "ns")
	require.NoError(t, err)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}}
	tg := s.register(pod, "main")
	defer s.unregister("p")
	s.event(&corev1.Event{Type: corev1.EventTypeWarning, Reason: "FailedMount", Message: "hostPath type check failed",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "u1"}})
	select {
	case <-tg.done:
		t.Fatal("FailedMount is not fatal")
	default:
	}
	s.event(&corev1.Event{Type: corev1.EventTypeWarning, Reason: "FailedCreatePodSandBox", Message: `no runtime for "nope" is configured`,
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "other"}})
	select {
	case <-tg.done:
		t.Fatal("an event about another pod of the same name is ignored")
	default:
	}
	s.event(&corev1.Event{Type: corev1.EventTypeWarning, Reason: "FailedCreatePodSandBox", Message: `no runtime for "nope" is configured`,
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "u1"}})
	<-tg.done
	st, warn := tg.snapshot()
	assert.Equal(t, `FailedCreatePodSandBox: no runtime for "nope" is configured`, warn)
	assert.Equal(t, &Failure{Pod: "p", Reason: "FailedCreatePodSandBox", Message: `no runtime for "nope" is configured`}, st.failure)
}

func TestCleanup(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(ns, name, run string, age time.Duration, managed bool) runtime.Object {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age)),
			Labels: map[string]string{LabelRunID: run}}}
		if managed {
			p.Labels[LabelManagedBy] = ManagedBy
		}
		return p
	}
	cs := fake.NewClientset(
		mk("a", "old", "r1", time.Hour, true),
		mk("a", "young", "r2", time.Minute, true),
		mk("b", "other", "r1", time.Hour, true),
		mk("a", "not-ours", "r1", time.Hour, false),
	)
	got, err := Cleanup(context.Background(), cs, CleanupOptions{Namespace: "a", OlderThan: 10 * time.Minute, Now: now})
	require.NoError(t, err)
	assert.Equal(t, []string{"a/old"}, got)
	got, err = Cleanup(context.Background(), cs, CleanupOptions{RunID: "r1", Now: now})
	require.NoError(t, err)
	assert.Equal(t, []string{"b/other"}, got)
	got, err = Cleanup(context.Background(), cs, CleanupOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a/young"}, got)
	left, _ := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.Len(t, left.Items, 1)
	assert.Equal(t, "not-ours", left.Items[0].Name, "only the library's pods are touched")
}

func TestRunNodeDeletedDuringRun(t *testing.T) {
	fc := newFakeCluster(t, node("a", corev1.ConditionTrue), node("b", corev1.ConditionTrue))
	fc.behave = func(n string) *corev1.PodStatus {
		if n == "b" {
			// The node goes away and its pod with it (as the pod garbage collector does).
			go func() {
				ctx := context.Background()
				_ = fc.cs.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{})
				pods, _ := fc.cs.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
				for _, p := range pods.Items {
					if p.Annotations[AnnotationNode] == "b" {
						_ = fc.cs.CoreV1().Pods("ns").Delete(ctx, p.Name, metav1.DeleteOptions{})
					}
				}
			}()
			return nil
		}
		return exited(0, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fc.kubelet(t, ctx)
	c := newTestClient(t, fc)
	res, err := c.Run(ctx, Job{RequirementID: "r", Namespace: "ns", Pod: template(), FanOut: true, Timeout: 15 * time.Second})
	require.NoError(t, err)
	require.Len(t, res.Targets, 2)
	assert.NoError(t, res.Targets[0].Err)
	b := res.Targets[1]
	assert.Equal(t, "node deleted during the run", b.NotRun)
	var f *Failure
	require.ErrorAs(t, b.Err, &f)
	assert.Equal(t, "PodDeleted", f.Reason)
	assert.NoError(t, ctx.Err(), "noticed at once, not at the timeout")
}

func TestRunTimeoutSaysWhereThePodWas(t *testing.T) {
	fc := newFakeCluster(t)
	fc.behave = func(string) *corev1.PodStatus {
		return &corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "tester", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}
	}
	fc.kubelet(t, context.Background())
	c := newTestClient(t, fc)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := c.Run(ctx, Job{RequirementID: "r", Namespace: "ns", Pod: template(), Timeout: 500 * time.Millisecond})
	require.NoError(t, err)
	var te *TimeoutError
	require.ErrorAs(t, res.Targets[0].Err, &te)
	assert.ErrorIs(t, te, context.DeadlineExceeded)
	assert.Contains(t, te.Error(), `timed out after`)
	assert.Contains(t, te.Error(), `(pod Pending on node somewhere, container "tester" waiting: ContainerCreating)`)
}

// generateName reuses the names of deleted pods: events of an earlier pod of the same name
// must not touch the target, and a pod deleted before it was registered is still noticed.
func TestTargetsMatchByUID(t *testing.T) {
	fc := newFakeCluster(t)
	c := newTestClient(t, fc)
	s, err := c.space(context.Background(), "ns")
	require.NoError(t, err)
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "old"}}
	cur := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "new"}}
	tg := s.register(cur, "main")
	s.deleted(old)
	done := old.DeepCopy()
	done.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 7}}}}
	s.observe(done)
	select {
	case <-tg.done:
		t.Fatal("another pod of the same name must not finish the target")
	default:
	}
	s.unregister("p")

	early := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", UID: "q1"}}
	s.deleted(early)
	tq := s.register(early, "main")
	defer s.unregister("q")
	<-tq.done
	st, _ := tq.snapshot()
	require.NotNil(t, st.failure)
	assert.Equal(t, "PodDeleted", st.failure.Reason)
}

func TestCleanupExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name, deadline string) runtime.Object {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name,
			Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelRunID: "r"},
			Annotations: map[string]string{AnnotationDeadline: deadline}}}
	}
	cs := fake.NewClientset(
		mk("past", now.Add(-time.Second).Format(time.RFC3339)),
		mk("future", now.Add(time.Minute).Format(time.RFC3339)),
		mk("no-deadline", ""),
	)
	got, err := Cleanup(context.Background(), cs, CleanupOptions{Expired: true, Now: now})
	require.NoError(t, err)
	assert.Equal(t, []string{"a/no-deadline", "a/past"}, got, "a pod without a readable deadline is ours and stale")
}

// TestDeleteGracePeriod checks how a check's pod is deleted once the run is done with it: at
// once (grace period 0, as the pod garbage collector does) only when its phase is terminal,
// so that no container can still run; with its own grace period when the selected container
// ended while another still runs; with 1s (kubectl delete --now) when it failed or timed out
// before its phase was terminal.
func TestDeleteGracePeriod(t *testing.T) {
	sidecar := exited(0, "")
	sidecar.Phase = corev1.PodRunning
	sidecar.ContainerStatuses = append(sidecar.ContainerStatuses, corev1.ContainerStatus{Name: "side", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	endedRunning := exited(0, "")
	endedRunning.Phase = corev1.PodRunning // the kubelet sets the phase once the sandbox is down
	failedPhase := &corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded", Message: "too long"}
	pulling := &corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "tester", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}}
	for _, tt := range []struct {
		name    string
		status  *corev1.PodStatus
		timeout time.Duration
		want    *int64 // the first deletion's grace period; nil: the pod's own
	}{
		{"succeeded", exited(0, ""), 10 * time.Second, ptrTo[int64](0)},
		{"failed phase", failedPhase, 10 * time.Second, ptrTo[int64](0)},
		{"every container ended, phase not yet terminal", endedRunning, 10 * time.Second, ptrTo[int64](0)},
		{"container done, sidecar running", sidecar, 10 * time.Second, nil},
		{"image pull failure", pulling, 10 * time.Second, ptrTo[int64](1)},
		{"timed out pending", nil, 200 * time.Millisecond, ptrTo[int64](1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeCluster(t)
			fc.behave = func(string) *corev1.PodStatus { return tt.status }
			var mu sync.Mutex
			var graces []*int64
			fc.cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				graces = append(graces, a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds)
				return false, nil, nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			fc.kubelet(t, ctx)
			c := newTestClient(t, fc)
			jctx, jcancel := context.WithTimeout(ctx, tt.timeout)
			defer jcancel()
			_, err := c.Run(jctx, Job{RequirementID: "r", Namespace: "ns", Pod: template(), OutputLimit: 1 << 10})
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, graces, "the pod is deleted")
			assert.Equal(t, tt.want, graces[0])
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
