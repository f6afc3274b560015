//go:build e2e

package examples_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/internal/cli"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

var cluster *testcluster.Cluster

// hangGuard bounds a run that would otherwise hang on a broken cluster; it is not a timing
// assertion (a healthy run ends long before).
const hangGuard = 5 * time.Minute

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{})
	os.Exit(m.Run())
}

// namespace creates a fresh namespace for one test and deletes it afterwards.
func namespace(t *testing.T) string {
	t.Helper()
	cs, err := cluster.Client()
	require.NoError(t, err)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "preflight-cli-" + hex.EncodeToString(b)
	_, err = cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return ns
}

// TestLicenseCheckerOnRealCluster runs DESIGN.md's license-checker spec through the CLI
// against the project's cluster: the pod runs on the real node (kwok nodes are excluded by
// their taint and listed), the result follows the host's /etc/vendor-license, and no pod is
// left behind.
func TestLicenseCheckerOnRealCluster(t *testing.T) {
	ns := namespace(t)
	run := func() (int, *runner.Decision, string) {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		code := cli.Run(ctx, []string{"run", "license-checker.yaml", "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-o", "json", "-q"}, nil, &stdout, &stderr)
		if stdout.Len() == 0 {
			return code, nil, stderr.String()
		}
		var d runner.Decision
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &d), stdout.String())
		return code, &d, stderr.String()
	}

	if cluster.Local() {
		_, err := os.Stat("/etc/vendor-license")
		if errors.Is(err, fs.ErrNotExist) {
			code, d, stderr := run()
			require.NotNil(t, d, stderr)
			assert.Equal(t, cli.ExitFail, code, stderr)
			r := d.Requirements[0]
			assert.Equal(t, runner.StatusFail, r.Status)
			assert.Contains(t, r.Message, "File /etc/vendor-license does not exists.")
			assert.True(t, hasNode(r, testcluster.RealNodeName, runner.StatusFail), "%+v", inScope(r))

			require.NoError(t, os.WriteFile("/etc/vendor-license", []byte("test\n"), 0o644))
			t.Cleanup(func() { _ = os.Remove("/etc/vendor-license") })
		}
	}
	code, d, stderr := run()
	require.NotNil(t, d, stderr)
	if cluster.Local() {
		assert.Equal(t, cli.ExitPass, code, stderr)
		assert.Equal(t, runner.GatePass, d.Gate)
		assert.True(t, hasNode(d.Requirements[0], testcluster.RealNodeName, runner.StatusPass), "%+v", inScope(d.Requirements[0]))
		// The host's / is mounted: /etc/os-release, a relative symlink, resolves.
		if target, err := os.Readlink("/etc/os-release"); err == nil {
			t.Logf("/etc/os-release -> %s on the host", target)
		}
		assert.Equal(t, "host-os-release", d.Requirements[1].ID)
		assert.True(t, hasNode(d.Requirements[1], testcluster.RealNodeName, runner.StatusPass), "%+v", inScope(d.Requirements[1]))
	}
	assert.True(t, d.Requirements[0].Privileged, "a hostPath pod is reported as privileged")

	cs, err := cluster.Client()
	require.NoError(t, err)
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "the run deleted its pods")

	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), []string{"cleanup", "--kubeconfig", cluster.Kubeconfig, "-n", ns}, nil, &out, &errOut)
	assert.Equal(t, cli.ExitPass, code, errOut.String())
	assert.True(t, strings.Contains(out.String(), "no leftover preflight pods"), out.String())
}

// inScope returns the nodes that were not excluded (for failure messages: kwok nodes are
// many and all excluded).
func inScope(r runner.RequirementResult) []runner.NodeResult {
	var out []runner.NodeResult
	for _, n := range r.Nodes {
		if n.Excluded == "" {
			out = append(out, n)
		}
	}
	return out
}

func hasNode(r runner.RequirementResult, node string, s runner.Status) bool {
	for _, n := range r.Nodes {
		if n.Node == node && n.Status == s {
			return true
		}
	}
	return false
}

// TestCleanupRemovesLabelledPods: `preflight cleanup` deletes the pods that carry the
// library's labels (as a crashed run leaves them), honours --run-id and --older-than, and
// leaves every other pod alone.
func TestCleanupRemovesLabelledPods(t *testing.T) {
	ns := namespace(t)
	cs, err := cluster.Client()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	runID := "cli-e2e-" + hex.EncodeToString(b)
	pod := func(name string, labels map[string]string) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PodSpec{
				// Never scheduled: the test needs API objects, not containers.
				NodeSelector: map[string]string{"preflight.test/no-such-node": "true"},
				Containers:   []corev1.Container{{Name: "main", Image: testcluster.BusyboxImage, Command: []string{"true"}}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	pod("leftover", map[string]string{"app.kubernetes.io/managed-by": "preflight", "preflight.dev/run-id": runID})
	pod("other-run", map[string]string{"app.kubernetes.io/managed-by": "preflight", "preflight.dev/run-id": "another-run"})
	pod("not-ours", map[string]string{"app": "web"})

	cleanup := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, append([]string{"cleanup", "--kubeconfig", cluster.Kubeconfig, "-n", ns}, args...), nil, &out, &errOut)
		require.Equal(t, cli.ExitPass, code, errOut.String())
		return code, out.String()
	}
	_, out := cleanup("--run-id", runID, "--older-than", "1h")
	assert.Contains(t, out, "no leftover preflight pods", "a fresh pod is younger than --older-than")

	_, out = cleanup("--run-id", runID)
	assert.Equal(t, "deleted pod "+ns+"/leftover\n", out)

	_, out = cleanup()
	assert.Equal(t, "deleted pod "+ns+"/other-run\n", out)

	left, err := cs.CoreV1().Pods(ns).Get(ctx, "not-ours", metav1.GetOptions{})
	require.NoError(t, err, "a pod without the library's labels is never touched")
	assert.Nil(t, left.DeletionTimestamp)
}

// TestInterruptDeletesPods is Ctrl-C during a cluster run: the CLI's context is cancelled while
// the pod runs; preflight exits 1 saying "interrupted", and the run's pods are gone.
func TestInterruptDeletesPods(t *testing.T) {
	if !cluster.Local() {
		t.Skip("needs the local cluster's real node")
	}
	ns := namespace(t)
	spec := `custom_requirements:
- id: long-check
  command:
    id: scheduler
    timeout: 120
    data:
      kubernetes:
        namespace: ` + ns + `
        node_selector:
          kubernetes.io/hostname: ` + testcluster.RealNodeName + `
        pod:
          apiVersion: v1
          kind: Pod
          metadata:
            name: long-check
          spec:
            containers:
            - name: main
              image: ` + testcluster.BusyboxImage + `
              command: ["sleep", "300"]
  results:
  - status: success
    condition:
      status_code: 0
  - status: error
`
	cs, err := cluster.Client()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	go func() {
		// Interrupt once the pod is running, as a user pressing Ctrl-C would.
		for runCtx.Err() == nil {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(pods.Items) > 0 && pods.Items[0].Status.Phase == corev1.PodRunning {
				interrupt()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	code := cli.Run(runCtx, []string{"run", "-", "--kubeconfig", cluster.Kubeconfig, "-q"}, strings.NewReader(spec), &stdout, &stderr)
	require.Error(t, runCtx.Err(), "the pod never ran; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Equal(t, cli.ExitError, code, stderr.String())
	assert.Contains(t, stderr.String(), "interrupted")

	// The run deleted its pod before returning (deletion may still be in progress).
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.NotNil(t, p.DeletionTimestamp, "pod %s was not deleted", p.Name)
	}
}
