//go:build e2e

package upgrade_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// onRealNode pins a pod to the local cluster's real node: the kwok nodes run no container
// and serve no logs.
func onRealNode(spec *corev1.PodSpec) {
	if cluster.Local() {
		spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testcluster.RealNodeName}
	}
}

// statefulSet is a StatefulSet of busybox pods that sleep.
func statefulSet(name, serviceName string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: serviceName,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "main", Image: testcluster.BusyboxImage, Command: []string{"sleep", "3600"}}},
				},
			},
		},
	}
	onRealNode(&ss.Spec.Template.Spec)
	return ss
}

// rokV2Manifests is the vendor's v2 manifests: the rok-tools StatefulSet (with the given
// serviceName and container command) and a ConfigMap that v1 did not have.
func rokV2Manifests(serviceName, command string) string {
	return fmt.Sprintf(`# Rok v2
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: rok-tools
spec:
  serviceName: %s
  replicas: 0
  selector:
    matchLabels: {app: rok-tools}
  template:
    metadata:
      labels: {app: rok-tools}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: main
        image: busybox
        command: [%s]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: rok-v2-config
data:
  version: "2.0.0"
`, serviceName, command)
}

// installRokV1 creates what Rok 1.x runs in ns: the operator StatefulSet with
// operatorReplicas pods, the rok-tools StatefulSet (no pod), and a CSI node plugin pod that
// runs script (deleted when the test ends). It returns the plugin's pod.
func installRokV1(t *testing.T, cs kubernetes.Interface, ns string, operatorReplicas int32, script string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	_, err := cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("rok-operator", "rok-operator", operatorReplicas), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("rok-tools", "rok-tools", 0), metav1.CreateOptions{})
	require.NoError(t, err)
	csi := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rok-csi-node-0", Labels: map[string]string{"app": "rok-csi-node"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "csi", Image: testcluster.BusyboxImage, Command: []string{"sh", "-c", script}}},
		},
	}
	onRealNode(&csi.Spec)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, csi, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { deletePod(t, ns, csi.Name) })
	return csi
}

// guide loads examples/upgrade-guide.yaml for namespace ns, custom resource group group and
// manifests file manifests.
func guide(t *testing.T, ns, group, manifests string) *requirement.Spec {
	t.Helper()
	return exampleWith(t, "upgrade-guide.yaml",
		"rok-system", ns,
		"rok.example.com", group,
		"/opt/rok/v2/rok.yaml", manifests)
}

// lastLogLine returns the timestamp and text of a pod's last log line, as the API gives it.
func lastLogLine(t *testing.T, cs kubernetes.Interface, ns, pod string) (time.Time, string) {
	t.Helper()
	b, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Timestamps: true}).DoRaw(context.Background())
	require.NoError(t, err)
	var last string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		last = sc.Text()
	}
	stamp, text, _ := strings.Cut(last, " ")
	ts, err := time.Parse(time.RFC3339Nano, stamp)
	require.NoError(t, err, "log line %q", last)
	return ts, text
}

// Issue 11, item 4: the guide's gate (phase upgrade) on real objects. The operator
// StatefulSet still runs a pod: the gate waits, and passes once the test scales it to 0
// during the wait. The CSI node pod logs for a few seconds then goes quiet: the wait passes
// only 30 s after its last line. The v2 manifests change rok-tools' serviceName: the dry run
// fails with the API server's Forbidden message, shown with the fix; with only a template
// change the manifests pass. Nothing in the cluster is changed by the dry runs.
func TestUpgradeGuideGate(t *testing.T) {
	ns := namespace(t)
	cs := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	csi := installRokV1(t, cs, ns, 1,
		`for i in 1 2 3 4 5 6 7 8; do echo "volume operation $i drained"; sleep 1; done; echo "all operations drained"; exec sleep 3600`)
	// The operator's pod runs before the gate starts, so that the gate has something to
	// wait for.
	require.NoError(t, waitFor(ctx, func() (bool, error) {
		ss, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "rok-operator", metav1.GetOptions{})
		return err == nil && ss.Status.Replicas == 1, err
	}), "the operator's pod")

	manifests := filepath.Join(t.TempDir(), "rok.yaml")
	require.NoError(t, os.WriteFile(manifests, []byte(rokV2Manifests("rok-tools-v2", "sleep, \"3600\"")), 0o600))
	spec := guide(t, ns, "rok.example.com", manifests)
	before, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "rok-tools", metav1.GetOptions{})
	require.NoError(t, err)

	// Run the gate; scale the operator to 0 once the gate has seen it running.
	var ev recorder
	waited := make(chan struct{})
	var once sync.Once
	r, err := runner.New(runner.Options{Config: adminConfig(t), Namespace: ns, Phase: runner.Upgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0",
		OnEvent: func(e runner.Event) {
			ev.on(e)
			if e.Type == runner.EventAttempt && e.RequirementID == "operator-scaled-down" && e.Result.Status == runner.StatusFail {
				once.Do(func() { close(waited) })
			}
		}})
	require.NoError(t, err)
	type outcome struct {
		d   *runner.Decision
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		d, err := r.Run(ctx, spec)
		done <- outcome{d, err}
	}()
	select {
	case <-waited:
	case o := <-done:
		t.Fatalf("the gate did not wait for the operator: %v %+v", o.err, o.d)
	}
	_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, "rok-operator", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	o := <-done
	require.NoError(t, o.err)
	d := o.d

	assert.Equal(t, runner.Upgrade, d.Phase)
	assert.Equal(t, runner.GateBlocked, d.Gate)
	got := byID(d)

	op := got["operator-scaled-down"]
	assert.Equal(t, runner.StatusPass, op.Status, op.Error)
	assert.Greater(t, op.Attempts, 1, "the gate waited for the scale-down")
	attempts, _ := ev.attempts("operator-scaled-down")
	require.NotEmpty(t, attempts)
	assert.Contains(t, attempts[0].Result.Message, "Scale the Rok operator to 0 first")

	// The wait for quiet logs passed only once the pod had been quiet for 30 s: the clocks
	// of this machine, its node and its API server are one.
	drained := got["csi-node-drained"]
	assert.Equal(t, runner.StatusPass, drained.Status, drained.Error)
	assert.Equal(t, "The CSI node plugin has logged nothing for 30 seconds.", drained.Message)
	lastAt, lastText := lastLogLine(t, cs, ns, csi.Name)
	assert.Equal(t, "all operations drained", lastText)
	attempts, times := ev.attempts("csi-node-drained")
	require.NotEmpty(t, attempts)
	passAt := times[len(times)-1]
	assert.Equal(t, runner.StatusPass, attempts[len(attempts)-1].Result.Status)
	assert.GreaterOrEqual(t, passAt.Sub(lastAt), 30*time.Second, "passed only after 30 s of quiet (last line at %s)", lastAt)
	waitedForQuiet := false
	for _, a := range attempts[:len(attempts)-1] {
		waitedForQuiet = waitedForQuiet || strings.Contains(a.Result.Message, "still draining")
	}
	assert.True(t, waitedForQuiet, "an attempt saw the plugin still logging: %+v", attempts)
	assert.Contains(t, drained.Stdout, "[pod/rok-csi-node-0/csi] ", "the decision keeps the logs' tail")
	assert.Contains(t, drained.Stdout, " all operations drained\n")

	refused := got["v2-manifests-accepted"]
	assert.Equal(t, runner.StatusFail, refused.Status)
	assert.True(t, refused.Strict)
	assert.Equal(t, 1, *refused.StatusCode)
	assert.Contains(t, refused.Message, `The v2 manifests change a StatefulSet field that cannot be updated in place: refused: StatefulSet `+ns+`/rok-tools (apps/v1): Invalid: StatefulSet.apps "rok-tools" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas'`,
		"the API server's own words")
	assert.Contains(t, refused.Message, "kubectl -n "+ns+" delete statefulset NAME --cascade=orphan", "with the fix")
	for _, id := range []string{"upgrade-job-completed", "rokcluster-reports-new-version"} {
		assert.Equal(t, runner.StatusSkipped, got[id].Status, "%s is for after the upgrade", id)
	}
	assertUnchanged(t, cs, ns, before)

	// The v2 manifests with only a template change: accepted, and still nothing changes.
	require.NoError(t, os.WriteFile(manifests, []byte(rokV2Manifests("rok-tools", "sleep, \"7200\"")), 0o600))
	d = run(t, spec, runner.Options{Namespace: ns, Phase: runner.Upgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0"})
	got = byID(d)
	assert.Equal(t, runner.GatePass, d.Gate, "%+v", d.Requirements)
	accepted := got["v2-manifests-accepted"]
	assert.Equal(t, runner.StatusPass, accepted.Status, accepted.Error)
	assert.Equal(t, "accepted: StatefulSet "+ns+"/rok-tools (apps/v1)\naccepted: ConfigMap "+ns+"/rok-v2-config (v1)\n", accepted.Stdout)
	assertUnchanged(t, cs, ns, before)
}

// Issue 11: the logs and dry_run commands check their permissions with the cluster's real
// RBAC before their first request. An identity that may list pods but not read their logs,
// and may patch StatefulSets but not create them, gets every denial at once and a gate that
// blocks; granting the rest makes the same spec pass.
func TestUpgradeGuideRestrictedIdentity(t *testing.T) {
	ns := namespace(t)
	cs := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	installRokV1(t, cs, ns, 0, "exec sleep 3600")
	manifests := filepath.Join(t.TempDir(), "rok.yaml")
	require.NoError(t, os.WriteFile(manifests, []byte(rokV2Manifests("rok-tools", "sleep, \"3600\"")), 0o600))

	user := "preflight-e2e-" + token(t)
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "patch"}},
	}
	role, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "guide"}, Rules: rules}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "guide"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "guide"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	ucfg, err := cluster.UserConfig(ctx, user, nil)
	require.NoError(t, err)

	spec := guide(t, ns, "rok.example.com", manifests)
	opts := runner.Options{Config: ucfg, Namespace: ns, Phase: runner.Upgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0"}
	d := run(t, spec, opts)
	got := byID(d)
	assert.Equal(t, runner.GateBlocked, d.Gate)
	// The run's permission check finds both denials before anything runs (docs/embedding.md):
	// the requirements that need them fail, the others are not run.
	assert.Equal(t, runner.StatusNotRun, got["operator-scaled-down"].Status, got["operator-scaled-down"].Error)
	logs := got["csi-node-drained"]
	assert.Equal(t, runner.StatusFail, logs.Status)
	assert.Contains(t, logs.Message, "Could not read the CSI node plugin's logs: insufficient permissions in namespace \""+ns+"\": cannot get pods/log")
	// The run's permission check refused it before its first attempt, so its retry never
	// waited (failure_limit attempts 5 s apart); a refusal found by the command itself stops
	// the retry at its first attempt (runner's TestRetryStopsOnPermanentError).
	assert.Equal(t, 0, logs.Attempts)
	dry := got["v2-manifests-accepted"]
	assert.Equal(t, runner.StatusFail, dry.Status)
	assert.Contains(t, dry.Message, "Could not dry-run the v2 manifests: insufficient permissions in namespace \""+ns+"\": cannot create statefulsets.apps")
	for _, r := range []runner.RequirementResult{logs, dry} {
		var denied *command.PermissionError
		if assert.ErrorAs(t, r.Err, &denied, r.ID) {
			assert.Len(t, denied.Denied, 1, "%s: %v", r.ID, denied.Denied)
		}
	}

	// Granted the rest, the same identity passes (the pod has logged nothing: quiet since it
	// started, which the test waits out below the 30 s mark only if it started late).
	role.Rules = append(rules,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, Verbs: []string{"create"}})
	_, err = cs.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, func() (bool, error) {
		d = run(t, spec, opts)
		return byID(d)["v2-manifests-accepted"].Status == runner.StatusPass, nil
	}), "the grant reaches the authorizer")
	got = byID(d)
	assert.Equal(t, runner.GatePass, d.Gate, "%+v", d.Requirements)
	assert.Equal(t, runner.StatusPass, got["csi-node-drained"].Status, got["csi-node-drained"].Error)
	assertUnchanged(t, cs, ns, nil)
}

// assertUnchanged checks that the dry runs changed nothing: rok-tools is the object it was
// (same resourceVersion and generation as before, when given; v1's serviceName and command),
// and the ConfigMap the v2 manifests add does not exist.
func assertUnchanged(t *testing.T, cs kubernetes.Interface, ns string, before *appsv1.StatefulSet) {
	t.Helper()
	now, err := cs.AppsV1().StatefulSets(ns).Get(context.Background(), "rok-tools", metav1.GetOptions{})
	require.NoError(t, err)
	if before != nil {
		assert.Equal(t, before.ResourceVersion, now.ResourceVersion, "the dry run did not write the object")
		assert.Equal(t, before.Generation, now.Generation)
	}
	assert.Equal(t, "rok-tools", now.Spec.ServiceName)
	assert.Equal(t, []string{"sleep", "3600"}, now.Spec.Template.Spec.Containers[0].Command)
	_, err = cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "rok-v2-config", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the dry run created nothing: %v", err)
}

// Issue 11, items 3 and 4: the guide's verification after the action. post-upgrade waits for
// the upgrade Job to complete and passes while the RokCluster (a CRD the test installs)
// reports the new version, and blocks when it reports an old one; post-install verifies the
// RokCluster only. The gate's requirements are skipped in both.
func TestUpgradeGuideVerify(t *testing.T) {
	cfg := adminConfig(t)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	cs := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	group := "rok" + token(t) + ".example.com"
	installCRD(t, dyn, group, "RokCluster")
	ns := namespace(t) // after the CRD (see installCRD)

	rokclusters := dyn.Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "rokclusters"}).Namespace(ns)
	rok := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "RokCluster",
		"metadata": map[string]any{"name": "rok"},
		"spec":     map[string]any{"version": "2.0.0"},
		"status":   map[string]any{"version": "2.0.0", "phase": "Healthy"},
	}}
	require.NoError(t, waitFor(ctx, func() (bool, error) { // the CRD is served moments after it is created
		_, err := rokclusters.Create(ctx, rok, metav1.CreateOptions{})
		return err == nil, nil
	}), "creating the RokCluster")

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "rok-upgrade"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "upgrade", Image: testcluster.BusyboxImage, Command: []string{"sh", "-c",
					"echo migrating the volumes to v2; sleep 3; echo done"}}},
			}},
		},
	}
	onRealNode(&job.Spec.Template.Spec)
	_, err = cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	// The Job's pod outlives it unless deleted with it; it must be gone before the namespace
	// check that no pod is left.
	t.Cleanup(func() { deleteJob(t, cs, ns, job.Name) })

	spec := guide(t, ns, group, "/opt/rok/v2/rok.yaml")
	post := runner.Options{Namespace: ns, Phase: runner.PostUpgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0"}
	d := run(t, spec, post)
	got := byID(d)
	assert.Equal(t, runner.PostUpgrade, d.Phase)
	assert.Equal(t, runner.GatePass, d.Gate, "%+v", d.Requirements)
	assert.Equal(t, runner.StatusPass, got["upgrade-job-completed"].Status, got["upgrade-job-completed"].Error)
	assert.Equal(t, "The upgrade Job rok-upgrade completed.", got["upgrade-job-completed"].Message)
	assert.Equal(t, runner.StatusPass, got["rokcluster-reports-new-version"].Status, got["rokcluster-reports-new-version"].Error)
	for _, id := range []string{"operator-scaled-down", "csi-node-drained", "v2-manifests-accepted"} {
		assert.Equal(t, runner.StatusSkipped, got[id].Status, "%s is for before the upgrade", id)
	}
	j, err := cs.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, j.Status.Succeeded, "the Job really ran")

	// The operator did not finish: the RokCluster still reports the old version.
	_, err = rokclusters.Patch(ctx, "rok", types.MergePatchType, []byte(`{"status":{"version":"1.4.2"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	d = run(t, spec, post)
	got = byID(d)
	assert.Equal(t, runner.GateBlocked, d.Gate)
	r := got["rokcluster-reports-new-version"]
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.Contains(t, r.Message, "The RokCluster does not report the installed version yet")
	assert.Equal(t, runner.StatusPass, got["upgrade-job-completed"].Status)

	// A fresh install of 1.4.2 verifies the RokCluster only.
	d = run(t, spec, runner.Options{Namespace: ns, Phase: runner.PostInstall, AppVersion: "1.4.2"})
	got = byID(d)
	assert.Equal(t, runner.PostInstall, d.Phase)
	assert.Equal(t, runner.GatePass, d.Gate, "%+v", d.Requirements)
	assert.Equal(t, runner.StatusSkipped, got["upgrade-job-completed"].Status)
	assert.Equal(t, runner.StatusPass, got["rokcluster-reports-new-version"].Status, got["rokcluster-reports-new-version"].Error)

	deleteJob(t, cs, ns, job.Name)
	noPodsLeft(t, ns)
}

// deleteJob deletes a Job with its pods and waits until they are gone.
func deleteJob(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	err := cs.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	if !apierrors.IsNotFound(err) {
		require.NoError(t, err)
	}
	require.NoError(t, waitFor(ctx, func() (bool, error) {
		_, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
		return err == nil && len(pods.Items) == 0, err
	}), "job %s and its pods deleted", name)
}

// waitFor polls cond every 200 ms until it holds or ctx ends (the hang guard: not a timing
// assertion).
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
