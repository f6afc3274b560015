//go:build e2e

package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

// designLicenseChecker is DESIGN.md's license-checker spec, verbatim.
const designLicenseChecker = `# kind: replicated
custom_requirements:
- id: license-file-exists
  message: License file exists
  details: The vendor license file must exist on the host at /etc/vendor-license
  results:
  - status: success
    message: File /etc/vendor-license exists.
    condition:
      status_code: 0
  - status: error
    message: File /etc/vendor-license does not exists.
    condition:
      status_code: 1
  command:
    id: scheduler
    timeout: 15
    data:
      kubernetes:
        pod_name: "license-checker" # matches the Pod name below
        global: true
---
# kind: preflight-kubernetes
apiVersion: v1
kind: Pod
metadata:
  name: license-checker
spec:
  containers:
  - name: tester
    image: busybox
    command: ["test", "-e", "/host/etc/vendor-license"]
    volumeMounts:
    - name: etc
      mountPath: /host/etc
  volumes:
  - name: etc
    hostPath:
      path: /etc
`

func TestLicenseCheckerVerbatim(t *testing.T) {
	if !cluster.Local() {
		t.Skip("the license file is created on this machine, which is the real node only on the local cluster")
	}
	const file = "/etc/vendor-license"
	saved, err := os.ReadFile(file)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if existed {
			_ = os.WriteFile(file, saved, 0o644)
		} else {
			_ = os.Remove(file)
		}
	})
	cfg, _ := admin(t)
	ns := namespace(t, nil)
	ctx := context.Background()

	_ = os.Remove(file)
	d := run(t, ctx, cfg, ns, designLicenseChecker)
	r := d.Requirements[0]
	assert.Equal(t, runner.StatusFail, r.Status, "%s: %s", r.Message, r.Error)
	assert.Equal(t, runner.GateNeedsAck, d.Gate)
	assert.Contains(t, r.Message, "File /etc/vendor-license does not exists.")
	real := nodeResult(&r, testcluster.RealNodeName)
	require.NotNil(t, real, "the real node ran it: %+v", r.Nodes)
	require.NotNil(t, real.StatusCode)
	assert.Equal(t, 1, *real.StatusCode)
	assert.Equal(t, runner.StatusFail, real.Status)
	assert.True(t, r.Privileged, "a hostPath pod is recorded as privileged")
	kwok := nodeResult(&r, testcluster.KwokNodeName(0))
	require.NotNil(t, kwok, "tainted kwok nodes are listed, not dropped")
	assert.Contains(t, kwok.Excluded, "taint kwok.x-k8s.io/node=fake:NoSchedule not tolerated")

	require.NoError(t, os.WriteFile(file, []byte("licensed\n"), 0o644))
	d = run(t, ctx, cfg, ns, designLicenseChecker)
	r = d.Requirements[0]
	assert.Equal(t, runner.StatusPass, r.Status, "%s: %s", r.Message, r.Error)
	assert.Equal(t, runner.GatePass, d.Gate)
	assert.True(t, strings.HasPrefix(r.Message, "File /etc/vendor-license exists."), r.Message)
	real = nodeResult(&r, testcluster.RealNodeName)
	require.NotNil(t, real)
	assert.Equal(t, 0, *real.StatusCode)
}

const fanOutSpec = `custom_requirements:
- id: fan-out
  message: Node check
  results:
  - status: success
    message: ok
    condition: {status_code: 0}
  - status: warn
    message: kwok says 3
    condition: {status_code: 3}
  - status: error
    message: could not run
    condition: {error: true}
  - status: error
    message: unexpected
  command:
    id: scheduler
    timeout: 60
    data:
      kubernetes:
        node_selector: {SELECTOR_KEY: SELECTOR_VALUE}
        READY_ONLY
        pod:
          metadata:
            annotations:
              preflight.test/exit-code: "3"
              preflight.test/message: "simulated"
          spec:
            tolerations:
            - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
            containers:
            - name: check
              image: busybox
              command: ["sh", "-c", "echo hello from the real node"]
`

// TestFanOutAccountsForEveryNode runs one pod per node over the real node, a kwok node that
// exits 3, a NotReady node and a node with a taint the pod does not tolerate.
func TestFanOutAccountsForEveryNode(t *testing.T) {
	cfg, cs := admin(t)
	ns := namespace(t, nil)
	ctx := context.Background()
	key, val := "preflight.test/fanout-"+randomSuffix(), "yes"
	notReady := "e2e-notready-" + randomSuffix()
	tainted := "e2e-tainted-" + randomSuffix()
	kwok := testcluster.KwokNodeName(0)

	labelNode(t, cs, testcluster.RealNodeName, key, val)
	labelNode(t, cs, kwok, key, val)
	createNode(t, cs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: notReady, Labels: map[string]string{key: val}}},
		[]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "e2e: no kubelet",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}})
	createNode(t, cs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: tainted, Labels: map[string]string{key: val}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}}},
		[]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}})

	spec := strings.NewReplacer("SELECTOR_KEY", key, "SELECTOR_VALUE", val, "        READY_ONLY\n", "").Replace(fanOutSpec)
	start := time.Now()
	d := run(t, ctx, cfg, ns, spec)
	took := time.Since(start)
	r := d.Requirements[0]
	t.Logf("fan-out over 4 nodes took %s: %s", took, r.Message)
	assert.Equal(t, runner.StatusFail, r.Status, "a NotReady node in scope fails closed")
	assert.Contains(t, r.Message, "of 3 nodes")
	require.Len(t, r.Nodes, 4, "every node is accounted for: %+v", r.Nodes)

	realNode := nodeResult(&r, testcluster.RealNodeName)
	require.NotNil(t, realNode)
	assert.Equal(t, runner.StatusPass, realNode.Status, "%+v", realNode)
	assert.Equal(t, "hello from the real node\n", realNode.Stdout, "output from the logs API")

	k := nodeResult(&r, kwok)
	require.NotNil(t, k)
	assert.Equal(t, runner.StatusWarn, k.Status, "%+v", k)
	require.NotNil(t, k.StatusCode)
	assert.Equal(t, 3, *k.StatusCode)
	assert.Equal(t, "simulated", k.Stdout, "kwok nodes have no logs: the termination message stands in")
	assert.NotEmpty(t, r.Notes, "the fallback is noted")

	nr := nodeResult(&r, notReady)
	require.NotNil(t, nr)
	assert.Equal(t, runner.StatusFail, nr.Status)
	assert.Regexp(t, `NotReady|unreachable`, nr.NotRun)

	tn := nodeResult(&r, tainted)
	require.NotNil(t, tn)
	assert.Equal(t, "taint dedicated=db:NoSchedule not tolerated", tn.Excluded)

	// Opting into ready nodes only: the NotReady node is excluded, the worst is kwok's warning.
	spec = strings.NewReplacer("SELECTOR_KEY", key, "SELECTOR_VALUE", val, "READY_ONLY", "ready_nodes_only: true").Replace(fanOutSpec)
	d = run(t, ctx, cfg, ns, spec)
	r = d.Requirements[0]
	assert.Equal(t, runner.StatusWarn, r.Status, "%s: %s", r.Message, r.Error)
	nr = nodeResult(&r, notReady)
	require.NotNil(t, nr)
	assert.Contains(t, nr.Excluded, "(ready_nodes_only)")
}

func labelNode(t testing.TB, cs kubernetes.Interface, node, key, val string) {
	t.Helper()
	patch := func(v string) []byte {
		if v == "" {
			return []byte(`{"metadata":{"labels":{"` + key + `":null}}}`)
		}
		return []byte(`{"metadata":{"labels":{"` + key + `":"` + v + `"}}}`)
	}
	_, err := cs.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch(val), metav1.PatchOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cs.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch(""), metav1.PatchOptions{})
	})
}

func createNode(t *testing.T, cs kubernetes.Interface, n *corev1.Node, conds []corev1.NodeCondition) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{}) })
	// The node lifecycle controller updates new nodes too (taints): retry on conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Conditions = conds
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	require.NoError(t, err)
}

const failFastSpec = `custom_requirements:
- id: fail-fast
  message: Fail fast
  results:
  - status: warn
    message: the pod could not run
    condition: {error: true}
  - status: success
    message: ran
  command:
    id: scheduler
    timeout: 90
    data:
      kubernetes:
        pod:
          spec:
            POD_SPEC
`

// TestFailFast: each way a pod cannot run is reported with the cluster's words, as a command
// error that condition.error sees, long before the 90s timeout.
func TestFailFast(t *testing.T) {
	cfg, cs := admin(t)
	rc := "e2e-missing-handler-" + randomSuffix()
	_, err := cs.NodeV1().RuntimeClasses().Create(context.Background(), &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: rc}, Handler: "nope"}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.NodeV1().RuntimeClasses().Delete(context.Background(), rc, metav1.DeleteOptions{}) })

	tests := []struct {
		name    string
		nsLabel map[string]string
		podSpec string
		want    []string
		kind    error // what errors.Is finds in the result's Err
	}{
		{"unschedulable", nil, `nodeSelector: {no-such-label: "x"}
            containers: [{name: c, image: busybox, command: ["true"]}]`,
			[]string{"Unschedulable", "nodes are available"}, command.ErrUnschedulable},
		{"image pull", nil, `containers: [{name: c, image: "busybox-does-not-exist:v0", command: ["true"]}]`,
			[]string{"busybox-does-not-exist"}, command.ErrImage},
		{"image never pull", nil, `containers: [{name: c, image: "never-pulled:v0", imagePullPolicy: Never, command: ["true"]}]`,
			[]string{"ErrImageNeverPull"}, command.ErrImage},
		{"sandbox", nil, `runtimeClassName: ` + rc + `
            containers: [{name: c, image: busybox, command: ["true"]}]`,
			[]string{"FailedCreatePodSandBox", "nope"}, command.ErrSandbox},
		{"pod security baseline", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}, `containers: [{name: c, image: busybox, command: ["true"], volumeMounts: [{name: etc, mountPath: /host/etc}]}]
            volumes: [{name: etc, hostPath: {path: /etc}}]`,
			[]string{"Forbidden", "violates PodSecurity", "hostPath volumes", `"etc"`}, command.ErrAdmission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := namespace(t, tt.nsLabel)
			start := time.Now()
			d := run(t, context.Background(), cfg, ns, strings.Replace(failFastSpec, "POD_SPEC", tt.podSpec, 1))
			took := time.Since(start)
			r := d.Requirements[0]
			t.Logf("%s after %s: %s", tt.name, took, r.Error)
			assert.Equal(t, runner.StatusWarn, r.Status, "condition.error matched: %+v", r)
			assert.Equal(t, "the pod could not run", r.Message)
			for _, w := range tt.want {
				assert.Contains(t, r.Error, w)
			}
			var pe *command.PodError
			assert.ErrorAs(t, r.Err, &pe, "the result keeps the typed error")
			assert.ErrorIs(t, r.Err, tt.kind)
			assert.Less(t, took, 45*time.Second, "fails fast, well before the 90s timeout")
		})
	}
}

// TestRestrictedIdentityRefusesBeforeCreating: an identity that may create pods but not
// delete them or read their logs is refused up front, with every denial listed, and nothing
// is created.
func TestRestrictedIdentityRefusesBeforeCreating(t *testing.T) {
	_, cs := admin(t)
	ns := namespace(t, nil)
	ctx := context.Background()
	user := "e2e-restricted-" + randomSuffix()
	_, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "half"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list", "watch"}},
		}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "half"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "half"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	ucfg, err := cluster.UserConfig(ctx, user, nil)
	require.NoError(t, err)

	spec := strings.Replace(failFastSpec, "POD_SPEC", `containers: [{name: c, image: busybox, command: ["true"]}]`, 1)
	d := run(t, ctx, ucfg, ns, spec)
	r := d.Requirements[0]
	t.Logf("restricted: %s", r.Error)
	assert.Contains(t, r.Error, `insufficient permissions in namespace "`+ns+`": cannot delete pods; cannot get pods/log`)
	assert.Contains(t, r.Error, "nothing was created")
	var denied *command.PermissionError
	if assert.ErrorAs(t, r.Err, &denied) {
		assert.Equal(t, ns, denied.Namespace)
		assert.Len(t, denied.Denied, 2, "delete pods, get pods/log")
	}
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"})
	require.NoError(t, err)
	assert.Empty(t, evs.Items, "no pod was ever created")
}

// TestCancelMidRun: cancelling a run whose pods are running returns promptly, and no pod is
// left once Run returns.
func TestCancelMidRun(t *testing.T) {
	cfg, cs := admin(t)
	ns := namespace(t, nil)
	spec := `custom_requirements:
- id: sleeper-a
  results: [{status: success}]
  command: {id: scheduler, timeout: 300, data: {kubernetes: {pod_name: sleeper}}}
- id: sleeper-b
  results: [{status: success}]
  command: {id: scheduler, timeout: 300, data: {kubernetes: {pod_name: sleeper}}}
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  containers: [{name: c, image: busybox, command: ["sleep", "300"]}]
`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer wcancel()
		if err := waitRunning(wctx, cs, ns, 2); err != nil {
			t.Errorf("pods never ran: %v", err)
		}
		cancel()
	}()
	var cancelledAt atomic.Int64
	go func() { <-ctx.Done(); cancelledAt.Store(time.Now().UnixNano()) }()
	d := run(t, ctx, cfg, ns, spec)
	returned := time.Since(time.Unix(0, cancelledAt.Load()))
	t.Logf("returned %s after the cancel", returned)
	assert.Less(t, returned, 15*time.Second, "returns promptly (deleting the pods with a 1s grace period)")
	for _, r := range d.Requirements {
		assert.Equal(t, runner.StatusFail, r.Status, "a cancelled check never passes: %+v", r)
	}
	requireNoPods(t, cs, ns)
}

// TestKilledProcessLeavesCleanablePods: a `preflight run` process killed with SIGKILL mid-run
// cannot clean up; its pods carry the server-side deadline, and Cleanup (`preflight cleanup`)
// removes them by label.
func TestKilledProcessLeavesCleanablePods(t *testing.T) {
	cfg, cs := admin(t)
	ns := namespace(t, nil)
	spec := `custom_requirements:
- id: killed
  results: [{status: success}]
  command: {id: scheduler, timeout: 20, data: {kubernetes: {pod: {spec: {containers: [{name: c, image: busybox, command: ["sleep", "300"]}]}}}}}
`
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+spec, "PREFLIGHT_E2E_CHILD_NS="+ns, "PREFLIGHT_E2E_CHILD_KUBECONFIG="+cluster.Kubeconfig)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, waitRunning(ctx, cs, ns, 1))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: podrun.LabelManagedBy + "=" + podrun.ManagedBy})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1, "the killed process left its pod")
	p := pods.Items[0]
	require.NotNil(t, p.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, int64(25), *p.Spec.ActiveDeadlineSeconds, "the command timeout plus 5s, enforced by the server")
	assert.NotEmpty(t, p.Annotations[podrun.AnnotationDeadline])
	assert.Equal(t, "killed", p.Labels[podrun.LabelRequirement])

	// The server ends it at the deadline even though nobody is watching.
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + p.Name})
	require.NoError(t, err)
	for e := range w.ResultChan() {
		if q, ok := e.Object.(*corev1.Pod); ok && q.Status.Phase == corev1.PodFailed {
			assert.Equal(t, "DeadlineExceeded", q.Status.Reason)
			break
		}
	}
	w.Stop()
	require.NoError(t, ctx.Err(), "the deadline fired")

	deleted, err := runner.Cleanup(ctx, cfg, runner.CleanupOptions{Namespace: ns})
	require.NoError(t, err)
	assert.Equal(t, []string{ns + "/" + p.Name}, deleted)
	waitGone(t, cs, ns)
}

func waitGone(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return
		}
		w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
		if err != nil {
			t.Fatalf("pods of %s not gone: %v", ns, err)
		}
		for e := range w.ResultChan() {
			if e.Type == "DELETED" {
				break
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			t.Fatalf("pods of %s not gone in time", ns)
		}
	}
}

var _ = apierrors.IsNotFound

// TestManyPullsOnOneNode: 20 pods pulling `busybox` (pull policy Always) at once on the real
// node exceed the kubelet's pull rate limit ("pull QPS exceeded"); the kubelet retries those
// pulls itself, and the checks pass instead of failing fast as pull errors.
func TestManyPullsOnOneNode(t *testing.T) {
	cfg, _ := admin(t)
	ns := namespace(t, nil)
	var spec strings.Builder
	spec.WriteString("custom_requirements:\n")
	for i := range 20 {
		fmt.Fprintf(&spec, "- id: pull-%d\n  results: [{status: success, condition: {status_code: 0}}, {status: error}]\n"+
			"  command: {id: scheduler, timeout: 120, data: {kubernetes: {pod: {spec: {containers: [{name: c, image: busybox, command: [\"true\"]}]}}}}}\n", i)
	}
	d := run(t, context.Background(), cfg, ns, spec.String()) // pod checks are not bound by Parallel
	for _, r := range d.Requirements {
		assert.Equal(t, runner.StatusPass, r.Status, "%s: %s", r.ID, r.Error)
	}
}
