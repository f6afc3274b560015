//go:build e2e

// Package e2e_test proves the scheduler command against the project's real cluster
// (internal/testcluster): the pods really run on the real node and on kwok nodes, and every
// test ends with no pod left in its namespace.
package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/internal/cli"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	cluster = testcluster.ForTestMain(testcluster.Options{KwokNodes: 5})
	os.Exit(m.Run())
}

func admin(t testing.TB) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	cfg, err := cluster.RestConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cfg, cs
}

// namespace returns a fresh namespace whose pods are counted when the test ends (before the
// namespace is deleted): any pod left there fails the test.
func namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	ns := cluster.Namespace(t, labels)
	_, cs := admin(t)
	t.Cleanup(func() { requireNoPods(t, cs, ns) })
	return ns
}

func requireNoPods(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("list pods of %s: %v", ns, err)
		return
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name+" ("+string(p.Status.Phase)+")")
	}
	if len(names) > 0 {
		t.Errorf("namespace %s has %d pods left: %s", ns, len(names), strings.Join(names, ", "))
	}
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run loads spec and runs it with the runner against cfg in ns.
func run(t testing.TB, ctx context.Context, cfg *rest.Config, ns, spec string, mod ...func(*runner.Options)) *runner.Decision {
	t.Helper()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	require.NoError(t, err)
	opts := runner.Options{Config: cfg, Namespace: ns, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, m := range mod {
		m(&opts)
	}
	r, err := runner.New(opts)
	require.NoError(t, err)
	d, err := r.Run(ctx, s)
	if err != nil {
		t.Logf("run error: %v", err)
	}
	require.NotNil(t, d)
	return d
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func nodeResult(d *runner.RequirementResult, name string) *runner.NodeResult {
	for i := range d.Nodes {
		if d.Nodes[i].Node == name {
			return &d.Nodes[i]
		}
	}
	return nil
}

// counting counts the API requests made through a config.
type counting struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// countRequests returns a copy of cfg whose requests are counted in the returned counter.
func countRequests(cfg *rest.Config) (*rest.Config, *counting) {
	c := &counting{}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { c.next = rt; return c }
	return cfg, c
}

// waitRunning waits until n pods in ns are Running (by watch).
func waitRunning(ctx context.Context, cs kubernetes.Interface, ns string, n int) error {
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	defer w.Stop()
	running := map[string]bool{}
	for e := range w.ResultChan() {
		if p, ok := e.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
			running[p.Name] = true
		}
		if len(running) >= n {
			return nil
		}
	}
	return fmt.Errorf("watch ended with %d of %d pods running: %w", len(running), n, ctx.Err())
}

// childEnv makes the test binary a child process that runs `preflight run` (the CLI, in
// process) on a spec and blocks, to be killed (see TestKilledProcessLeavesCleanablePods).
const childEnv = "PREFLIGHT_E2E_CHILD_SPEC"

func childMain() int {
	f, err := os.CreateTemp("", "preflight-e2e-*.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(os.Getenv(childEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f.Close()
	return cli.Run(context.Background(), []string{"run", f.Name(),
		"--kubeconfig", os.Getenv("PREFLIGHT_E2E_CHILD_KUBECONFIG"), "-n", os.Getenv("PREFLIGHT_E2E_CHILD_NS")},
		nil, os.Stdout, os.Stderr)
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

var _ = podrun.LabelRunID
var _ = time.Second
