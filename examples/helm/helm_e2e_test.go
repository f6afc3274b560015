//go:build e2e

// The chart's end-to-end test: the real Helm 4 (built from helm.sh/helm/v4 by tools/build.sh)
// installs and upgrades examples/helm/myapp on the real cluster, with the preflight image
// (built by examples/preflight/image and pushed to the cluster's registry) as the hooks' gate.
package helm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/internal/testcluster"
)

var (
	cluster *testcluster.Cluster
	helmBin string
	// helmHome holds helm's cache, config and data for this run; TestMain removes it.
	helmHome string
	// gateImage is the preflight image as pods name it: docker.io, which the local cluster's
	// containerd resolves through its registry.
	gateImage string
)

// hangGuard bounds what would hang on a broken cluster; no assertion is about time.
const hangGuard = 5 * time.Minute

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	err := setup(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "examples/helm e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(helmHome)
	os.Exit(code)
}

// setup builds helm (cached) and the preflight image, and pushes the image.
func setup(ctx context.Context) error {
	tools, err := filepath.Abs("tools")
	if err != nil {
		return err
	}
	dir, err := testcluster.BuildCached(ctx, testcluster.Options{}, tools, "helm", "helm")
	if err != nil {
		return err
	}
	helmBin = filepath.Join(dir, "helm")
	if helmHome, err = os.MkdirTemp("", "preflight-helm-e2e-"); err != nil {
		return err
	}
	// PREFLIGHT_E2E_IMAGE names an image pushed already (another cluster must be given one
	// it can pull: go run ./examples/preflight/image --push REF).
	if gateImage = os.Getenv("PREFLIGHT_E2E_IMAGE"); gateImage != "" {
		return nil
	}
	if !cluster.Local() {
		return fmt.Errorf("set PREFLIGHT_E2E_IMAGE to a preflight image that cluster can pull (go run ./examples/preflight/image --push REF)")
	}
	tag := "e2e-" + randHex(6)
	cmd := exec.CommandContext(ctx, "go", "run", "./examples/preflight/image",
		"--push", "127.0.0.1:25000/preflightkit/preflight:"+tag, "--insecure")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("build and push the preflight image: %w\n%s%s", err, out, stderr.Bytes())
	}
	gateImage = "preflightkit/preflight:" + tag
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// chart copies the chart with another appVersion and returns its directory.
func chart(t *testing.T, appVersion string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "myapp")
	require.NoError(t, os.CopyFS(dir, os.DirFS("myapp")))
	path := filepath.Join(dir, "Chart.yaml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), "appVersion: \"1.0.0\"\n")
	b = bytes.Replace(b, []byte(`appVersion: "1.0.0"`), []byte(`appVersion: "`+appVersion+`"`), 1)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return dir
}

// helm runs the helm binary against the cluster and returns its combined output.
func helm(ctx context.Context, ns string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, helmBin, append(args, "--namespace", ns, "--kubeconfig", cluster.Kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"), "HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gateSets are the chart values every test sets: the gate's image, and short waits.
func gateSets(retryTimeout string) []string {
	return []string{"--set", "gate.image=" + gateImage, "--set", "gate.retryInterval=1s",
		"--set", "gate.retryTimeout=" + retryTimeout}
}

type revision struct {
	Revision    int    `json:"revision"`
	Status      string `json:"status"`
	AppVersion  string `json:"app_version"`
	Description string `json:"description"`
}

func history(t *testing.T, ns, release string) []revision {
	t.Helper()
	out, err := helm(context.Background(), ns, "history", release, "-o", "json")
	require.NoError(t, err, out)
	var h []revision
	require.NoError(t, json.Unmarshal([]byte(out), &h), out)
	return h
}

// appPods returns the app's pods by name, with their UIDs.
func appPods(t *testing.T, cs kubernetes.Interface, ns, release string) map[string]string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=myapp,app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID) + " " + string(p.Status.Phase) + " " + p.Labels["app.kubernetes.io/version"]
	}
	return out
}

// setUpgradeable makes every running app pod answer /upgradeable with v, through the app's
// own endpoint (the apiserver's pods/proxy reaches each pod).
func setUpgradeable(t *testing.T, cs kubernetes.Interface, ns, release string, v bool) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=myapp,app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		body, err := cs.CoreV1().Pods(ns).ProxyGet("http", p.Name, "8080", "/cgi-bin/upgradeable",
			map[string]string{"upgradeable": fmt.Sprint(v)}).DoRaw(context.Background())
		require.NoError(t, err, "%s", body)
		require.JSONEq(t, fmt.Sprintf(`{"upgradeable": %t}`, v), string(body))
	}
}

// requireNoHookLeft waits until the gate's Job, its pods, its spec and its RBAC are gone
// (Helm deletes the Job; the garbage collector its pod) and fails if they are not.
func requireNoHookLeft(t testing.TB, cs kubernetes.Interface, ns, release string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	gate := release + "-preflight"
	left := func() []string {
		var out []string
		add := func(kind string, err error, n int) {
			if err != nil && !apierrors.IsNotFound(err) {
				out = append(out, kind+": "+err.Error())
			} else if err == nil && n > 0 {
				out = append(out, kind)
			}
		}
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		add("jobs", err, len(jobs.Items))
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name!=myapp"})
		add("pods other than the app's", err, len(pods.Items))
		_, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, gate+"-spec", metav1.GetOptions{})
		add("configmap", err, 1)
		_, err = cs.CoreV1().ServiceAccounts(ns).Get(ctx, gate, metav1.GetOptions{})
		add("serviceaccount", err, 1)
		_, err = cs.RbacV1().Roles(ns).Get(ctx, gate, metav1.GetOptions{})
		add("role", err, 1)
		_, err = cs.RbacV1().RoleBindings(ns).Get(ctx, gate, metav1.GetOptions{})
		add("rolebinding", err, 1)
		_, err = cs.RbacV1().ClusterRoles().Get(ctx, gate+"-"+ns, metav1.GetOptions{})
		add("clusterrole", err, 1)
		_, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, gate+"-"+ns, metav1.GetOptions{})
		add("clusterrolebinding", err, 1)
		return out
	}
	for {
		l := left()
		if len(l) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("hook objects left in %s: %v", ns, l)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitDeploymentVersion(t *testing.T, cs kubernetes.Interface, ns, release, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
		if err == nil && d.Labels["app.kubernetes.io/version"] == version && d.Status.ObservedGeneration == d.Generation &&
			d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.ReadyReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas {
			return
		}
		require.NoError(t, ctx.Err(), "deployment %s/%s at version %s", ns, release, version)
		time.Sleep(250 * time.Millisecond)
	}
}

// TestChartRBACIsPreflightRBAC checks that the chart's RBAC hooks are what `preflight rbac`
// prints for the chart's rendered spec, so that the two cannot drift apart.
func TestChartRBACIsPreflightRBAC(t *testing.T) {
	ns, release := "rbac-check", "shop"
	out, err := helm(context.Background(), ns, "template", release, "myapp")
	require.NoError(t, err, out)
	var chartRBAC []map[string]any
	var spec string
	for _, doc := range strings.Split(out, "\n---\n") {
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if obj == nil {
			continue
		}
		md, _ := obj["metadata"].(map[string]any)
		switch obj["kind"] {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			delete(md, "annotations") // the hook annotations
			chartRBAC = append(chartRBAC, obj)
		case "ConfigMap":
			if md["name"] == release+"-preflight-spec" {
				spec = obj["data"].(map[string]any)["spec.yaml"].(string)
			}
		}
	}
	require.NotEmpty(t, spec)
	specFile := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(specFile, []byte(spec), 0o644))
	cmd := exec.Command("go", "run", "./examples/preflight", "rbac", specFile, "-n", ns,
		"--service-account", release+"-preflight", "--kubeconfig", cluster.Kubeconfig)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rbac, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var want []map[string]any
	for _, doc := range strings.Split(string(rbac), "\n---\n") {
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if obj != nil {
			want = append(want, obj)
		}
	}
	key := func(o map[string]any) string {
		return fmt.Sprint(o["kind"], "/", o["metadata"].(map[string]any)["name"])
	}
	sortByKey := func(s []map[string]any) {
		slices.SortFunc(s, func(a, b map[string]any) int { return strings.Compare(key(a), key(b)) })
	}
	sortByKey(chartRBAC)
	sortByKey(want)
	require.Equal(t, want, chartRBAC, "the chart's RBAC (templates/gate-rbac.yaml) differs from `preflight rbac`'s; update the template")
}

// releaseNamespace returns a client and a new namespace that enforces the restricted Pod
// Security level, where release is uninstalled when t ends (before the namespace goes).
func releaseNamespace(t testing.TB, release string) (kubernetes.Interface, string) {
	t.Helper()
	cs, err := cluster.Client()
	require.NoError(t, err)
	ns := cluster.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	t.Cleanup(func() {
		if out, err := helm(context.Background(), ns, "uninstall", release, "--wait"); err != nil {
			t.Logf("helm uninstall: %v: %s", err, out)
		}
	})
	return cs, ns
}

// TestHelmGatesInstallAndUpgrade drives helm install and helm upgrade of the chart: the
// pre-install gate passes; a pre-upgrade gate that the app refuses fails the upgrade and
// leaves v1 untouched; one that the app accepts during the wait passes; a strict failure
// blocks with its message in helm's output.
func TestHelmGatesInstallAndUpgrade(t *testing.T) {
	const release = "myapp"
	cs, ns := releaseNamespace(t, release)
	ctx := context.Background()
	v1, v2, v3 := chart(t, "1.0.0"), chart(t, "2.0.0"), chart(t, "3.0.0")

	// (a) install v1: the pre-install gate runs (its upgrade requirements are skipped) and passes.
	out, err := helm(ctx, ns, append([]string{"install", release, v1, "--wait", "--timeout", "3m"}, gateSets("1m")...)...)
	require.NoError(t, err, out)
	require.Equal(t, []revision{{1, "deployed", "1.0.0", "Install complete"}}, history(t, ns, release))
	waitDeploymentVersion(t, cs, ns, release, "1.0.0")
	requireNoHookLeft(t, cs, ns, release)
	before := appPods(t, cs, ns, release)
	require.NotEmpty(t, before)

	// (b) the app answers "not upgradeable" for longer than the gate waits: the upgrade fails,
	// v1 runs on untouched.
	setUpgradeable(t, cs, ns, release, false)
	out, err = helm(ctx, ns, append([]string{"upgrade", release, v2, "--wait", "--timeout", "3m"}, gateSets("4s")...)...)
	require.Error(t, err, out)
	require.Contains(t, out, "pre-upgrade hooks failed")
	require.Contains(t, out, "The app is not ready to be upgraded yet", "helm prints the gate's log")
	require.Contains(t, out, "Gate: blocked")
	h := history(t, ns, release)
	require.Len(t, h, 2)
	require.Equal(t, revision{1, "deployed", "1.0.0", "Install complete"}, h[0], "the release stays at revision 1")
	require.Equal(t, "failed", h[1].Status)
	requireNoHookLeft(t, cs, ns, release)
	require.Equal(t, before, appPods(t, cs, ns, release), "the v1 pods run on unchanged")
	waitDeploymentVersion(t, cs, ns, release, "1.0.0")

	// (c) the app turns upgradeable while the gate waits: the gate passes and v2 rolls out.
	done := make(chan struct{})
	var upOut string
	var upErr error
	go func() {
		defer close(done)
		upOut, upErr = helm(ctx, ns, append([]string{"upgrade", release, v2, "--wait", "--timeout", "3m"}, gateSets("2m")...)...)
	}()
	// Wait until the gate runs and has been told "no" at least once: its pod is running and
	// the release is pending, with v1 still serving.
	gctx, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods(ns).List(gctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=myapp-preflight"})
		require.NoError(t, err)
		if len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case <-done:
			t.Fatalf("helm upgrade ended before the gate ran: %v: %s", upErr, upOut)
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(3 * time.Second) // a few of the gate's 1s retries see "not upgradeable"
	require.Equal(t, "pending-upgrade", history(t, ns, release)[2].Status, "the upgrade waits for the gate")
	require.Equal(t, before, appPods(t, cs, ns, release), "v1 serves while the gate waits")
	setUpgradeable(t, cs, ns, release, true)
	<-done
	require.NoError(t, upErr, upOut)
	h = history(t, ns, release)
	require.Len(t, h, 3)
	require.Equal(t, revision{3, "deployed", "2.0.0", "Upgrade complete"}, h[2])
	waitDeploymentVersion(t, cs, ns, release, "2.0.0")
	requireNoHookLeft(t, cs, ns, release)

	// (d) a strict failure: this chart refuses to upgrade from below min_upgrade_from (a chart
	// value, passed to the spec's vars). Its message is in helm's output.
	v2pods := appPods(t, cs, ns, release)
	out, err = helm(ctx, ns, append([]string{"upgrade", release, v3, "--wait", "--timeout", "3m",
		"--set", "gate.vars.min_upgrade_from=2.5.0"}, gateSets("1m")...)...)
	require.Error(t, err, out)
	// The gate's text output wraps a long message under its column (100 columns when not a
	// terminal), and helm quotes the log with its newlines escaped: match the two lines.
	require.Contains(t, out, "Upgrading from 2.0.0 is not supported: upgrade to 2.5.0")
	require.Contains(t, out, "first, then to 3.0.0.")
	require.Contains(t, out, "[strict]")
	require.Contains(t, out, "Gate: blocked")
	h = history(t, ns, release)
	require.Len(t, h, 4)
	require.Equal(t, "failed", h[3].Status)
	require.Equal(t, revision{3, "deployed", "2.0.0", "Upgrade complete"}, h[2])
	requireNoHookLeft(t, cs, ns, release)
	require.Equal(t, v2pods, appPods(t, cs, ns, release))
}

// BenchmarkHelmUpgradeGate measures what the gate adds to `helm upgrade --wait` when it passes
// at once (the image cached on the node): each iteration runs the same upgrade of the same
// release with the hooks (gate.enabled=true) and without them (gate.enabled=false), in
// alternating order, and reports the mean of each and their difference.
//
//	PREFLIGHT_E2E_REQUIRED=1 KUBECONFIG=... go test -tags e2e -run '^$' -bench HelmUpgradeGate -benchtime 10x ./examples/helm/
func BenchmarkHelmUpgradeGate(b *testing.B) {
	const release = "bench"
	cs, ns := releaseNamespace(b, release)
	ctx := context.Background()
	// The install runs the gate once: the node has the image from then on.
	out, err := helm(ctx, ns, append([]string{"install", release, "myapp", "--wait", "--timeout", "3m"}, gateSets("1m")...)...)
	require.NoError(b, err, out)
	upgrade := func(gate bool) time.Duration {
		start := time.Now()
		out, err := helm(ctx, ns, append([]string{"upgrade", release, "myapp", "--wait", "--timeout", "3m",
			"--set", fmt.Sprintf("gate.enabled=%t", gate)}, gateSets("1m")...)...)
		d := time.Since(start)
		require.NoError(b, err, out)
		return d
	}
	var with, without time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			with += upgrade(true)
			without += upgrade(false)
		} else {
			without += upgrade(false)
			with += upgrade(true)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(with.Milliseconds())/n, "ms/upgrade-with-gate")
	b.ReportMetric(float64(without.Milliseconds())/n, "ms/upgrade-without")
	b.ReportMetric(float64((with-without).Milliseconds())/n, "ms-added-by-gate")
	requireNoHookLeft(b, cs, ns, release)
}
