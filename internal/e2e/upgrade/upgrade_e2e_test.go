//go:build e2e

package upgrade_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{})
	os.Exit(m.Run())
}

// hangGuard bounds a test that would otherwise hang on a broken cluster; it is not a timing
// assertion.
const hangGuard = 5 * time.Minute

func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func adminConfig(t *testing.T) *rest.Config {
	t.Helper()
	cfg, err := cluster.RestConfig()
	require.NoError(t, err)
	return cfg
}

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := cluster.Client()
	require.NoError(t, err)
	return cs
}

// exampleWith loads examples/<name> after replacing each old string by its new one, so that
// a test runs the example's exact pattern in its own namespace or directory.
func exampleWith(t *testing.T, name string, replace ...string) *requirement.Spec {
	t.Helper()
	path := filepath.Join("..", "..", "..", "examples", name)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		require.Contains(t, text, replace[i], "the example still holds %q", replace[i])
		text = strings.ReplaceAll(text, replace[i], replace[i+1])
	}
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: path, Reader: strings.NewReader(text)})
	require.NoError(t, err)
	return spec
}

// recorder collects a run's events in order, with the time each arrived.
type recorder struct {
	mu     sync.Mutex
	events []runner.Event
	times  []time.Time
}

func (r *recorder) on(e runner.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.times = append(r.times, time.Now())
}

// attempts returns the attempt events of id, in order, with their times.
func (r *recorder) attempts(id string) ([]runner.Event, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var evs []runner.Event
	var at []time.Time
	for i, e := range r.events {
		if e.Type == runner.EventAttempt && e.RequirementID == id {
			evs = append(evs, e)
			at = append(at, r.times[i])
		}
	}
	return evs, at
}

func (r *recorder) list() []runner.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runner.Event(nil), r.events...)
}

// index returns the position of the first event of type typ for id, -1 when none.
func (r *recorder) index(typ runner.EventType, id string) int {
	for i, e := range r.list() {
		if e.Type == typ && e.RequirementID == id {
			return i
		}
	}
	return -1
}

// run runs spec with opts on the cluster, under the hang guard.
func run(t *testing.T, spec *requirement.Spec, opts runner.Options) *runner.Decision {
	t.Helper()
	if opts.Config == nil {
		opts.Config = adminConfig(t)
	}
	r, err := runner.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	d, err := r.Run(ctx, spec)
	require.NoError(t, err)
	return d
}

// noPodsLeft asserts that the namespace holds no pod.
func noPodsLeft(t *testing.T, ns string) {
	t.Helper()
	pods, err := client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "pods left in %s", ns)
}

// namespace creates a namespace for the test; when the test ends (before the namespace is
// deleted) it asserts that no pod is left in it, whatever the test's outcome.
func namespace(t *testing.T) string {
	t.Helper()
	ns := cluster.Namespace(t, nil)
	t.Cleanup(func() { noPodsLeft(t, ns) })
	return ns
}

// deletePod deletes a pod at once and waits until it is gone.
func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	cs := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if !apierrors.IsNotFound(err) {
		require.NoError(t, err)
	}
	for {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		require.NoError(t, ctx.Err(), "pod %s/%s still exists", ns, name)
		time.Sleep(200 * time.Millisecond)
	}
}

// Item 1: wait until upgradeable. The app runs in the cluster (busybox httpd behind a
// Service) and answers not-upgradeable twice, then upgradeable (a CGI script counts the
// requests in a file); the example reaches it through the API server's service proxy and its
// retry (every 5s) waits for it.
func TestWaitUntilUpgradeable(t *testing.T) {
	ns := namespace(t)
	cs := client(t)
	ctx := context.Background()
	cgi := "#!/bin/sh\n" +
		"n=$(( $(cat /www/count) + 1 )); echo $n > /www/count\n" +
		"echo 'Content-Type: application/json'; echo\n" +
		"if [ $n -lt 3 ]; then echo '{\"upgradeable\": false, \"reason\": \"a backup is running\"}'; else echo '{\"upgradeable\": true}'; fi\n"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "myapp", Labels: map[string]string{"app": "myapp"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "app", Image: testcluster.BusyboxImage,
				Command: []string{"sh", "-c", `mkdir -p /www/cgi-bin && echo 0 > /www/count && printf '%s' "$CGI" > /www/cgi-bin/upgradeable && chmod +x /www/cgi-bin/upgradeable && exec httpd -f -p 8080 -h /www`},
				Env:     []corev1.EnvVar{{Name: "CGI", Value: cgi}},
				Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
	}
	if cluster.Local() {
		pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testcluster.RealNodeName}
	}
	_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { deletePod(t, ns, pod.Name) })
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "myapp"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "myapp"},
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	// Ready once the proxy reaches the pod (the count file is static: reading it counts nothing).
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		b, err := cs.CoreV1().Services(ns).ProxyGet("http", "myapp", "8080", "/count", nil).DoRaw(ctx)
		last = fmt.Sprintf("%q, %v", b, err)
		return err == nil && string(b) == "0\n", nil
	})
	require.NoError(t, err, "the API server does not reach the app through the service proxy: %s", last)
	spec := exampleWith(t, "upgrade-wait-until-upgradeable.yaml", "namespace: myapp,", "namespace: "+ns+",",
		"path: /upgradeable", "path: /cgi-bin/upgradeable")

	var ev recorder
	d := run(t, spec, runner.Options{Phase: runner.Upgrade, OnEvent: ev.on})

	assert.Equal(t, runner.GatePass, d.Gate)
	r := d.Requirements[0]
	assert.Equal(t, runner.StatusPass, r.Status, "%+v", r)
	assert.Equal(t, 3, r.Attempts)
	assert.Equal(t, "The app reports that it can be upgraded.", r.Message)
	assert.Equal(t, `{"upgradeable": true}`+"\n", r.Stdout, "the decision keeps the last output")
	b, err := cs.CoreV1().Services(ns).ProxyGet("http", "myapp", "8080", "/count", nil).DoRaw(ctx)
	require.NoError(t, err)
	assert.Equal(t, "3\n", string(b), "three requests reached the app")

	var attempts []string
	for _, e := range ev.list() {
		if e.Type == runner.EventAttempt {
			require.NotNil(t, e.Result)
			attempts = append(attempts, fmt.Sprintf("%d:%s", e.Attempt, e.Result.Status))
			if e.Attempt < 3 {
				assert.Contains(t, e.Result.Message, "a backup is running", "each attempt shows why it waits")
			}
		}
	}
	assert.Equal(t, []string{"1:fail", "2:fail", "3:pass"}, attempts, "the event stream shows each attempt")
}

// Item 2: the rook-ceph example on the real cluster: a monitor pod blocks with the teardown
// steps, its absence passes, a cluster without rook's CRDs passes the CephCluster check, and
// an identity that may not list pods gets a clear permission error and never passes.
func TestRookCephTeardown(t *testing.T) {
	ns := namespace(t)
	spec := exampleWith(t, "rook-ceph-teardown.yaml", "namespace: rook-ceph\n", "namespace: "+ns+"\n")
	cs := client(t)
	mon := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rook-ceph-mon-a", Labels: map[string]string{"app": "rook-ceph-mon"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "mon", Image: testcluster.BusyboxImage, Command: []string{"sleep", "3600"}}},
		},
	}
	if cluster.Local() {
		mon.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testcluster.RealNodeName}
	}
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(), mon, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { deletePod(t, ns, mon.Name) })

	d := run(t, spec, runner.Options{Phase: runner.Upgrade})
	assert.Equal(t, runner.GateBlocked, d.Gate)
	got := byID(d)
	r := got["old-ceph-monitors-gone"]
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.True(t, r.Strict)
	assert.Contains(t, r.Message, "The old rook-ceph cluster still runs in namespace rook-ceph. Tear it down before upgrading:")
	assert.Contains(t, r.Message, "helm -n rook-ceph uninstall rook-ceph")
	assert.Contains(t, r.Stdout, `"name":"rook-ceph-mon-a"`, "the decision records what the check saw")
	assert.Equal(t, runner.StatusPass, got["old-cephcluster-deleted"].Status, "no rook CRDs: nothing to tear down")
	assert.Equal(t, "Rook is not installed in this cluster (it serves no CephCluster kind).", got["old-cephcluster-deleted"].Message)

	deletePod(t, ns, mon.Name)
	d = run(t, spec, runner.Options{Phase: runner.Upgrade})
	assert.Equal(t, runner.GatePass, d.Gate)
	assert.Equal(t, runner.StatusPass, byID(d)["old-ceph-monitors-gone"].Status)
	assert.Equal(t, "No rook-ceph monitor runs in namespace rook-ceph.", byID(d)["old-ceph-monitors-gone"].Message)

	// An identity with only the rights of system:authenticated may not list pods.
	user, err := cluster.UserConfig(context.Background(), "preflight-e2e-"+token(t), nil)
	require.NoError(t, err)
	d = run(t, spec, runner.Options{Phase: runner.Upgrade, Config: user})
	assert.Equal(t, runner.GateBlocked, d.Gate)
	r = byID(d)["old-ceph-monitors-gone"]
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.Contains(t, r.Error, fmt.Sprintf("cannot list pods in namespace %q: forbidden:", ns))
	assert.Contains(t, r.Error, `cannot list resource "pods"`, "the API server's own words")
	noPodsLeft(t, ns)
}

// installCRD creates a namespaced CustomResourceDefinition of kind in group, version v1,
// whose objects take any fields, and deletes it when the test ends. Create the test's
// namespace after it, so that the namespace's cleanup runs first: the namespace (and the
// objects in it) is gone before the CRD is deleted, and the namespace controller never meets
// a group that vanished under it.
func installCRD(t *testing.T, dyn dynamic.Interface, group, kind string) {
	t.Helper()
	plural := strings.ToLower(kind) + "s"
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"plural": plural, "singular": strings.ToLower(kind), "kind": kind, "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	_, err := dyn.Resource(crdGVR).Create(context.Background(), crd, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = dyn.Resource(crdGVR).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{})
	})
}

// Item 2: custom resources through discovery: a CRD created by the test is served, an
// object of it is read by name and by label, and a missing one is status_code 1, not an
// error.
func TestKubernetesCustomResource(t *testing.T) {
	cfg := adminConfig(t)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	group := "e2e" + token(t) + ".preflight.test"
	installCRD(t, dyn, group, "Widget")
	ns := namespace(t) // after the CRD (see installCRD)
	widgets := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1", "labels": map[string]any{"color": "blue"}},
		"spec":     map[string]any{"size": int64(3)},
	}}
	for { // the CRD is established asynchronously; create the object once it is served
		_, err = dyn.Resource(widgets).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
		if err == nil {
			break
		}
		require.NoError(t, ctx.Err(), "creating a Widget: %v", err)
		time.Sleep(200 * time.Millisecond)
	}

	src := fmt.Sprintf(`
custom_requirements:
- id: widget-w1
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Widget, name: w1}}
  results:
  - status: success
    message: w1 has size 3
    condition: {status_code: 0, expr: 'output.spec.size == 3 && output.metadata.labels.color == "blue"'}
  - status: error
    message: w1 is wrong
- id: widget-w2
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Widget, name: w2}}
  results:
  - status: success
    message: w2 does not exist
    condition: {status_code: 1, error: false, expr: 'output == null'}
  - status: error
    message: w2 exists
- id: blue-widgets
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Widget, label_selector: color=blue}}
  results:
  - status: success
    message: one blue widget
    condition: {status_code: 0, expr: 'size(output.items) == 1 && output.items[0].metadata.name == "w1"'}
  - status: error
    message: not one blue widget
- id: gadgets
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Gadget}}
  results:
  - status: error
    message: unexpectedly listed gadgets
    condition: {error: false}
`, group)
	spec, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "crd.yaml", Reader: strings.NewReader(src)})
	require.NoError(t, err)
	d := run(t, spec, runner.Options{Namespace: ns})
	got := byID(d)
	assert.Equal(t, runner.StatusPass, got["widget-w1"].Status, got["widget-w1"].Error)
	assert.Equal(t, runner.StatusPass, got["widget-w2"].Status, got["widget-w2"].Error)
	assert.Equal(t, 1, *got["widget-w2"].StatusCode)
	assert.Empty(t, got["widget-w2"].Error, "not found is data, not an error")
	assert.Equal(t, runner.StatusPass, got["blue-widgets"].Status, got["blue-widgets"].Error)
	assert.Equal(t, runner.StatusFail, got["gadgets"].Status)
	assert.Contains(t, got["gadgets"].Error, fmt.Sprintf(`no kind "Gadget" in group/version "%s/v1"`, group))
	noPodsLeft(t, ns)
}

// Item 5: depends_on on the real cluster: the migration check starts only after the backup
// check finished and sees its status; when the backup check fails the migration check is
// not run, with the reason.
func TestDependsOnOrdering(t *testing.T) {
	ns := namespace(t)
	cs := client(t)
	ctx := context.Background()
	spec := exampleWith(t, "upgrade-from-below-2.yaml")
	opts := func(ev *recorder) runner.Options {
		return runner.Options{Namespace: ns, Phase: runner.Upgrade, AppVersion: "2.1.0", PreviousVersion: "1.9.3", OnEvent: ev.on}
	}
	for name, data := range map[string]map[string]string{
		"myapp-backup": {"status": "complete"},
		"myapp-schema": {"revision": "1.9.2"},
	} {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	var ev recorder
	d := run(t, spec, opts(&ev))
	assert.Equal(t, runner.GatePass, d.Gate)
	got := byID(d)
	assert.Equal(t, runner.StatusPass, got["backup-before-v2"].Status, got["backup-before-v2"].Error)
	assert.Equal(t, runner.StatusPass, got["schema-ready-for-v2"].Status, got["schema-ready-for-v2"].Error)
	backupDone := ev.index(runner.EventFinished, "backup-before-v2")
	schemaStart := ev.index(runner.EventStarted, "schema-ready-for-v2")
	require.GreaterOrEqual(t, backupDone, 0)
	assert.Greater(t, schemaStart, backupDone, "schema-ready-for-v2 starts after backup-before-v2 finished: %+v", ev.list())

	// Without the backup record the backup check fails (not found is status_code 1) and the
	// dependent check does not run.
	require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(ctx, "myapp-backup", metav1.DeleteOptions{}))
	ev = recorder{}
	d = run(t, spec, opts(&ev))
	assert.Equal(t, runner.GateBlocked, d.Gate)
	got = byID(d)
	assert.Equal(t, runner.StatusFail, got["backup-before-v2"].Status)
	assert.Contains(t, got["backup-before-v2"].Message, "No backup of the 1.x data was found")
	assert.Equal(t, runner.StatusNotRun, got["schema-ready-for-v2"].Status)
	assert.Contains(t, got["schema-ready-for-v2"].Message, "backup-before-v2")
	assert.Nil(t, got["schema-ready-for-v2"].StatusCode, "the dependent requirement's command never ran")
	noPodsLeft(t, ns)
}

// Item 6: the node-steps example on the real node: the privileged hostPID pod enters the
// host's namespaces and its script changes the host (a file the test then finds on this
// machine); a host in the wrong state blocks, naming the node; the decision records that the
// requirement ran privileged; no pod is left.
func TestNodeSteps(t *testing.T) {
	if !cluster.Local() {
		t.Skip("the node's host is only at hand on the local cluster")
	}
	ns := namespace(t)
	cs := client(t)
	ctx := context.Background()
	const label = "preflight.example.com/node-steps"
	patch := func(v any) {
		b := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, label, v)
		_, err := cs.CoreV1().Nodes().Patch(ctx, testcluster.RealNodeName, types.MergePatchType, []byte(b), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	patch(`"true"`)
	t.Cleanup(func() { patch("null") })

	dir := "/var/lib/preflight-e2e/" + token(t)
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.Remove(filepath.Dir(dir)) // only when no other run uses it
	})
	// The example enters the namespaces of the host's PID 1, as on any node. On this test
	// machine PID 1 is a sandbox agent whose namespaces nobody may open (nsenter -t 1 fails
	// with "Permission denied" even for root on the machine itself), so the test points the
	// same nsenter at this test process instead: it runs in the machine's own (host)
	// namespaces, and the pod sees it under the same PID through hostPID.
	spec := exampleWith(t, "node-steps.yaml",
		"    - -t\n    - \"1\"\n", fmt.Sprintf("    - -t\n    - \"%d\"\n", os.Getpid()),
		"/var/lib/myapp/preflight", dir,
		"/var/lib/rook", dir+"/rook")

	d := run(t, spec, runner.Options{Namespace: ns, Phase: runner.Upgrade})
	r := d.Requirements[0]
	assert.Equal(t, runner.GatePass, d.Gate, "%+v", r)
	assert.Equal(t, runner.StatusPass, r.Status, r.Error)
	assert.True(t, r.Privileged, "the decision records the privileged pod")
	require.Len(t, r.Nodes, 1, "only the labelled node is in scope: %+v", r.Nodes)
	assert.Equal(t, testcluster.RealNodeName, r.Nodes[0].Node)
	assert.Equal(t, runner.StatusPass, r.Nodes[0].Status)
	stamp, err := os.ReadFile(filepath.Join(dir, "node-check"))
	require.NoError(t, err, "the step wrote its file on the host")
	_, err = time.Parse(time.RFC3339, strings.TrimSpace(string(stamp)))
	assert.NoError(t, err, "the stamp is the host's date: %q", stamp)
	noPodsLeft(t, ns)

	// Leftover data on the host: the step exits 3 and the strict requirement blocks.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rook"), 0o755))
	d = run(t, spec, runner.Options{Namespace: ns, Phase: runner.Upgrade})
	r = d.Requirements[0]
	assert.Equal(t, runner.GateBlocked, d.Gate)
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.Contains(t, r.Message, testcluster.RealNodeName)
	assert.Contains(t, r.Message, "old rook-ceph data remains in "+dir+"/rook")
	assert.True(t, r.Privileged)
	noPodsLeft(t, ns)
}

// Item 3 on the real cluster: the cluster facts the capacity example reads are this
// cluster's, and its verdict follows them.
func TestClusterCapacity(t *testing.T) {
	spec := exampleWith(t, "cluster-capacity.yaml")
	cs := client(t)
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	// Count what the example counts, in Go.
	fit := 0
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		tainted := false
		for _, tn := range n.Spec.Taints {
			tainted = tainted || tn.Effect == corev1.TaintEffectNoSchedule || tn.Effect == corev1.TaintEffectNoExecute
		}
		mem, ok := n.Status.Allocatable[corev1.ResourceMemory]
		if ready && !n.Spec.Unschedulable && !tainted && ok && mem.Cmp(resource.MustParse("8Gi")) >= 0 {
			fit++
		}
	}
	for _, minNodes := range []int64{int64(fit), int64(fit) + 1} {
		t.Run(fmt.Sprint("min_nodes=", minNodes), func(t *testing.T) {
			d := run(t, spec, runner.Options{Vars: map[string]any{"min_nodes": minNodes}})
			got := byID(d)
			assert.Equal(t, runner.StatusPass, got["kubernetes-version"].Status, got["kubernetes-version"].Error)
			want := runner.StatusPass
			if minNodes > int64(fit) {
				want = runner.StatusWarn
			}
			assert.Equal(t, want, got["worker-capacity"].Status, got["worker-capacity"].Error)
			require.NotNil(t, d.Cluster, "the decision records the facts it used")
			assert.Len(t, d.Cluster["nodes"], len(nodes.Items))
			if cluster.Local() {
				assert.Equal(t, strings.TrimPrefix(testcluster.KubernetesVersion, "v"), d.Cluster["version"])
			}
		})
	}
}

// benchRun runs spec once per iteration on the cluster (a new run each time: new clients,
// new discovery, new cluster facts) and checks that its one requirement passes.
func benchRun(b *testing.B, src string) {
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: strings.NewReader(src)})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := cluster.RestConfig()
	if err != nil {
		b.Fatal(err)
	}
	r, err := runner.New(runner.Options{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := r.Run(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		if d.Requirements[0].Status != runner.StatusPass {
			b.Fatalf("%+v", d.Requirements[0])
		}
	}
}

// BenchmarkKubernetesListNodes: a run whose one requirement lists every node of the cluster
// (1001 on the local cluster with the smoke test's kwok nodes) with the kubernetes command.
func BenchmarkKubernetesListNodes(b *testing.B) {
	benchRun(b, `
custom_requirements:
- id: nodes
  command: {id: kubernetes, data: {api_version: v1, kind: Node}}
  results:
  - status: success
    condition: {expr: 'size(output.items) >= 1'}
`)
}

// BenchmarkClusterFacts: a run whose one requirement reads `cluster` (server version and
// every node), like examples/cluster-capacity.yaml.
func BenchmarkClusterFacts(b *testing.B) {
	benchRun(b, `
custom_requirements:
- id: facts
  command: {id: kubernetes, data: {api_version: v1, kind: Namespace, name: kube-system}}
  results:
  - status: success
    condition: {expr: 'semver(cluster.version).compareTo(semver("1.30.0")) >= 0 && cluster.nodes.filter(n, n.ready).size() >= 1'}
`)
}
