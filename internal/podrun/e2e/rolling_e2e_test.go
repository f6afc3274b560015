//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

// rollingSpec is a node step over the nodes labelled SELECTOR, taken in the order of the
// label ORDER_LABEL. On the real node the container runs SCRIPT; kwok nodes end the pod at
// once with the exit code of its preflight.test/exit-code annotation (0 unless an admission
// policy of the test sets it).
const rollingSpec = `custom_requirements:
- id: roll
  message: Node step
  results:
  - status: success
    message: step done
    condition: {status_code: 0}
  - status: error
    message: step failed
  command:
    id: scheduler
    timeout: 240
    data:
      kubernetes:
        node_selector: {SELECTOR_KEY: "yes"}
        node_order_label: ORDER_LABEL
        ROLLING
        pod:
          spec:
            terminationGracePeriodSeconds: 1
            tolerations:
            - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
            containers:
            - name: step
              image: busybox
              imagePullPolicy: IfNotPresent
              command: ["sh", "-c", "SCRIPT"]
`

// rollingNodes labels the real node and five kwok nodes for a rolling step and gives them an
// order label; the labels are removed when the test ends. It returns the selector key, the
// order label and the nodes in their rollout order: kwok-node-0, the real node, kwok-node-1,
// kwok-node-2, kwok-node-3, kwok-node-4 (order values 1, 2, 3, 10, 11, 12: numeric order,
// which string order would break).
func rollingNodes(t *testing.T, cs kubernetes.Interface) (key, order string, nodes []string) {
	t.Helper()
	if !cluster.Local() {
		t.Skip("kwok nodes are only at hand on the local cluster")
	}
	key, order = "preflight.test/roll-"+randomSuffix(), "preflight.test/roll-order-"+randomSuffix()
	nodes = []string{testcluster.KwokNodeName(0), testcluster.RealNodeName, testcluster.KwokNodeName(1),
		testcluster.KwokNodeName(2), testcluster.KwokNodeName(3), testcluster.KwokNodeName(4)}
	for i, n := range nodes {
		labelNode(t, cs, n, key, "yes")
		labelNode(t, cs, n, order, []string{"1", "2", "3", "10", "11", "12"}[i])
	}
	return key, order, nodes
}

func rollingStep(key, order, rolling, script string) string {
	return strings.NewReplacer("SELECTOR_KEY", key, "ORDER_LABEL", order, "ROLLING", rolling, "SCRIPT", script).Replace(rollingSpec)
}

// failNode makes the cluster fail the step's pod on node: a MutatingAdmissionPolicy, bound to
// namespace ns, gives the pods pinned there the kwok exit-code annotation 1. It returns once
// the API server applies the policy (a dry-run pod comes back annotated).
func failNode(t *testing.T, cs kubernetes.Interface, ns, node string) {
	t.Helper()
	ctx := context.Background()
	name := "e2e-fail-" + randomSuffix()
	policy := &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{Name: "node",
				Expression: fmt.Sprintf(`has(object.metadata.annotations) && object.metadata.annotations[?%q].orValue("") == %q`, podrun.AnnotationNode, node)}},
			FailurePolicy:      ptr.To(admissionv1.Fail),
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			Mutations: []admissionv1.Mutation{{PatchType: admissionv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1.ApplyConfiguration{Expression: fmt.Sprintf(
					`Object{metadata: Object.metadata{annotations: {%q: "1", %q: "e2e: this node's step fails"}}}`,
					testcluster.ExitCodeAnnotation, testcluster.MessageAnnotation)}}},
		},
	}
	_, err := cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	_, err = cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: &admissionv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Annotations: map[string]string{podrun.AnnotationNode: node}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: testcluster.BusyboxImage}}}}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, nil
		}
		return p.Annotations[testcluster.ExitCodeAnnotation] == "1", nil
	})
	require.NoError(t, err, "the admission policy never took effect")
}

// podWatch counts, from a watch of the step's pods (the run's labels in a namespace of its
// own), the pods that exist at each moment: added and not yet deleted.
type podWatch struct {
	mu      sync.Mutex
	live    map[string]string // pod name: node
	peak    int
	created []string // nodes, in the order their pods appeared
	onEvent func(watch.EventType, *corev1.Pod)
	stop    context.CancelFunc
	done    chan struct{}
}

func watchStepPods(t testing.TB, cs kubernetes.Interface, ns, requirementID string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sel := podrun.LabelManagedBy + "=" + podrun.ManagedBy + "," + podrun.LabelRequirement + "=" + requirementID
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	require.NoError(t, err)
	require.Empty(t, list.Items)
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return cs.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
	require.NoError(t, err)
	pw := &podWatch{live: map[string]string{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		defer rw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-rw.ResultChan():
				if !ok {
					return
				}
				p, ok := e.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				pw.mu.Lock()
				switch e.Type {
				case watch.Added:
					pw.live[p.Name] = p.Annotations[podrun.AnnotationNode]
					pw.created = append(pw.created, p.Annotations[podrun.AnnotationNode])
					pw.peak = max(pw.peak, len(pw.live))
				case watch.Deleted:
					delete(pw.live, p.Name)
				}
				on := pw.onEvent
				pw.mu.Unlock()
				if on != nil {
					on(e.Type, p)
				}
			}
		}
	}()
	t.Cleanup(pw.close)
	return pw
}

// settle waits until the watch has seen every pod of the step deleted, then stops it.
func (pw *podWatch) settle(t testing.TB) (peak int, created []string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		return len(pw.live) == 0, nil
	})
	assert.NoError(t, err, "the watch saw every pod of the step deleted")
	pw.close()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.peak, append([]string(nil), pw.created...)
}

func (pw *podWatch) close() {
	pw.stop()
	<-pw.done
}

// TestRollingStep: a node step over the real node and five kwok nodes, one node at a time:
// the watch never sees two of its pods at once; the node made to fail (kwok-node-2, fourth
// in the order) stops the rollout and the two nodes after it are not run. Then three at a
// time, without stop_on_failure: never more than three pods, every node runs.
func TestRollingStep(t *testing.T) {
	cfg, cs := admin(t)
	ns := namespace(t, nil)
	key, order, nodes := rollingNodes(t, cs)
	failing := testcluster.KwokNodeName(2)
	failNode(t, cs, ns, failing)
	ctx := context.Background()

	pw := watchStepPods(t, cs, ns, "roll")
	var events []string // the per-node progress a console shows: node, status, of how many
	onEvent := func(o *runner.Options) {
		o.OnEvent = func(e runner.Event) {
			if e.Type == runner.EventNode {
				events = append(events, fmt.Sprintf("%s %s %d", e.Node.Node, e.Node.Status, e.Nodes))
			}
		}
	}
	d := run(t, ctx, cfg, ns, rollingStep(key, order, "max_parallel_nodes: 1\n        stop_on_failure: true", "sleep 1; echo stepped"), onEvent)
	peak, created := pw.settle(t)
	r := d.Requirements[0]
	assert.Equal(t, []string{nodes[0] + " pass 6", nodes[1] + " pass 6", nodes[2] + " pass 6", nodes[3] + " fail 6",
		nodes[4] + " fail 6", nodes[5] + " fail 6"}, events, "progress follows the rollout, nodes not started included")
	t.Logf("one at a time: peak %d pods, created on %v; %s; notes %q", peak, created, r.Message, r.Notes)
	assert.Equal(t, 1, peak, "at most one step pod exists at any moment")
	assert.Equal(t, nodes[:4], created, "one node after the other, in the label's numeric order, up to the failed node")
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.Equal(t, runner.GateNeedsAck, d.Gate)
	require.Len(t, r.Nodes, 6, "every node is reported: %+v", r.Nodes)
	for _, n := range nodes[:3] {
		nr := nodeResult(&r, n)
		require.NotNil(t, nr, n)
		assert.Equal(t, runner.StatusPass, nr.Status, "%s: %+v", n, nr)
	}
	assert.Equal(t, "stepped\n", nodeResult(&r, testcluster.RealNodeName).Stdout, "the real node ran the script")
	f := nodeResult(&r, failing)
	require.NotNil(t, f)
	assert.Equal(t, runner.StatusFail, f.Status)
	require.NotNil(t, f.StatusCode)
	assert.Equal(t, 1, *f.StatusCode)
	for _, n := range nodes[4:] {
		nr := nodeResult(&r, n)
		require.NotNil(t, nr, n)
		assert.Equal(t, runner.StatusFail, nr.Status, "not run counts as a failure")
		assert.Equal(t, "stopped after "+failing+" failed", nr.NotRun)
		assert.Nil(t, nr.StatusCode, "nothing ran there")
	}
	assert.Contains(t, r.Notes, fmt.Sprintf("rolled out 1 node at a time over 6 nodes, in order of label %s, then node name; stopped after %s failed: 2 of 6 nodes not started", order, failing))
	requireNoPods(t, cs, ns)

	pw = watchStepPods(t, cs, ns, "roll")
	d = run(t, ctx, cfg, ns, rollingStep(key, order, "max_parallel_nodes: 3", "sleep 1; echo stepped"))
	peak, created = pw.settle(t)
	r = d.Requirements[0]
	t.Logf("three at a time: peak %d pods, created on %v; %s", peak, created, r.Message)
	assert.LessOrEqual(t, peak, 3, "at most three step pods exist at any moment")
	assert.ElementsMatch(t, nodes, created, "without stop_on_failure every node runs")
	assert.ElementsMatch(t, nodes[:3], created[:3], "the first three in order start first")
	assert.Equal(t, runner.StatusFail, nodeResult(&r, failing).Status)
	for _, n := range nodes {
		if n != failing {
			assert.Equal(t, runner.StatusPass, nodeResult(&r, n).Status, n)
		}
	}
	assert.Equal(t, fmt.Sprintf("error on 1 of 6 nodes (%s): step failed", failing), r.Message)
	requireNoPods(t, cs, ns)
}

// TestRollingStepCancel: cancelling a rolling step while the real node (second in the
// order) runs its pod returns at once; the decision shows kwok-node-0 finished, the real
// node interrupted, and the four others never started; no pod is left.
func TestRollingStepCancel(t *testing.T) {
	cfg, cs := admin(t)
	ns := namespace(t, nil)
	key, order, nodes := rollingNodes(t, cs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt atomic.Int64
	pw := watchStepPods(t, cs, ns, "roll")
	pw.mu.Lock()
	pw.onEvent = func(_ watch.EventType, p *corev1.Pod) {
		if p.Annotations[podrun.AnnotationNode] == testcluster.RealNodeName && p.Status.Phase == corev1.PodRunning &&
			cancelledAt.CompareAndSwap(0, time.Now().UnixNano()) {
			cancel()
		}
	}
	pw.mu.Unlock()
	d := run(t, ctx, cfg, ns, rollingStep(key, order, "max_parallel_nodes: 1\n        stop_on_failure: true", "sleep 300"))
	require.NotZero(t, cancelledAt.Load(), "the real node's pod ran")
	returned := time.Since(time.Unix(0, cancelledAt.Load()))
	_, created := pw.settle(t)
	r := d.Requirements[0]
	t.Logf("returned %s after the cancel; %s; notes %q", returned, r.Message, r.Notes)
	assert.Less(t, returned, 15*time.Second, "stops at once (the pod is deleted with a 1s grace period)")
	assert.Equal(t, runner.GateBlocked, d.Gate, "an interrupted run is blocked")
	assert.Equal(t, nodes[:2], created)
	require.Len(t, r.Nodes, 6, "%+v", r.Nodes)
	assert.Equal(t, runner.StatusPass, nodeResult(&r, nodes[0]).Status, "finished before the cancel")
	real := nodeResult(&r, testcluster.RealNodeName)
	assert.Equal(t, runner.StatusFail, real.Status)
	assert.Contains(t, real.Error, "cancelled after", "interrupted")
	assert.Empty(t, real.NotRun)
	for _, n := range nodes[2:] {
		nr := nodeResult(&r, n)
		assert.Equal(t, runner.StatusFail, nr.Status, n)
		assert.Equal(t, "not started: the rollout was interrupted (context canceled)", nr.NotRun, n)
	}
	requireNoPods(t, cs, ns)
}
