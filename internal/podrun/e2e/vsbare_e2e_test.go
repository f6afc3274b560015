//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

// BenchmarkVsBare measures pod checks with default options against a bare client-go loop
// that does only what a correct check must do (watch, create, wait for the terminal phase,
// read the logs, delete), in the same process and the same rounds: each round runs the bare
// loop, the library (runner.Run), the CLI as a process (`preflight run`, built from
// examples/preflight) and a tighter bare loop that waits only until the container has ended
// (its exit code is known; the kubelet sets the terminal phase about a second later, once it
// has torn the sandbox down), in an order that rotates from round to round, so that the load
// of the shared machine falls on every side alike. Cases: 1, 5 and 20 independent checks of
// `sh -c 'sleep 1'` in busybox on the real node (IfNotPresent), and `global: true` over
// every node (the real one plus 1000 kwok nodes, added for the benchmark and removed at the
// end) running `true`. The bare side creates the same pods at the same concurrency (all at
// once; the run's 128 pods in flight for the global case) and QPS (100, burst 300).
//
// It logs a table of medians, per-round ratios and load averages, and reports the median
// ratios. Every side must pass, and the library and the CLI must leave no pod behind.
// PREFLIGHT_BENCH_ROUNDS (default 5) sets the rounds, PREFLIGHT_BENCH_CASES (default
// "1,5,20,global") the cases. Run with -benchtime 1x.
func BenchmarkVsBare(b *testing.B) {
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("PREFLIGHT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	cases := strings.Split(os.Getenv("PREFLIGHT_BENCH_CASES"), ",")
	if cases[0] == "" {
		cases = []string{"1", "5", "20", "global"}
	}
	cfg, cs := admin(b)
	ctx := context.Background()
	cli := buildCLI(b)
	var bcs []*vsCase
	for _, name := range cases {
		bcs = append(bcs, newVsCase(b, ctx, cs, name))
	}
	for range b.N {
		for round := range rounds {
			for _, c := range bcs {
				n := sides
				if c.global {
					n = 3 // kwok sets the container's end and the phase at once: both bare loops are one
				}
				for k := range n {
					side := (round + k) % n
					c.measure(b, ctx, cfg, cs, cli, side)
				}
			}
		}
	}
	b.StopTimer()
	var table strings.Builder
	table.WriteString("\ncase | bare (phase) | library | ratio (per round) | CLI | ratio (per round) | bare (container ended) | library vs it (per round) | CLI vs it (per round) | load avg\n")
	for _, c := range bcs {
		if c.global {
			c.times[3] = c.times[0]
		}
		bare, lib, cmd, tight := median(c.times[0]), median(c.times[1]), median(c.times[2]), median(c.times[3])
		fmt.Fprintf(&table, "%s | %s | %s | %.2fx (%s) | %s | %.2fx (%s) | %s | %.2fx (%s) | %.2fx (%s) | %s\n", c.name,
			round2(bare), round2(lib), lib/bare, c.ratios(1, 0), round2(cmd), cmd/bare, c.ratios(2, 0),
			round2(tight), lib/tight, c.ratios(1, 3), cmd/tight, c.ratios(2, 3), c.loadRange())
		b.ReportMetric(lib/bare, c.key+"-library/bare")
		b.ReportMetric(cmd/bare, c.key+"-cli/bare")
		b.ReportMetric(lib/tight, c.key+"-library/bare-ended")
		if c.global {
			fmt.Fprintf(&table, "%s: %d nodes; peak RSS library %.0f MB, CLI %.0f MB\n", c.name, c.pods, float64(c.peakLib)/(1<<20), float64(c.peakCLI)/(1<<20))
			b.ReportMetric(float64(c.peakLib)/(1<<20), "global-library-peak-MB")
			b.ReportMetric(float64(c.peakCLI)/(1<<20), "global-cli-peak-MB")
		}
	}
	b.Log(table.String())
}

// vsCase is one case of BenchmarkVsBare: its namespace, spec and measurements.
type vsCase struct {
	key      string // the case as PREFLIGHT_BENCH_CASES names it
	name     string
	ns       string
	global   bool
	pods     int // the independent checks; for global, the nodes
	nodes    []string
	specFile string
	spec     string
	times    [sides][]float64 // seconds, by side: bare, library, CLI, bare (container ended)
	loads    []float64
	peakLib  int64
	peakCLI  int64
}

func newVsCase(b *testing.B, ctx context.Context, cs kubernetes.Interface, name string) *vsCase {
	c := &vsCase{key: name, name: name, ns: namespace(b, nil)}
	var spec strings.Builder
	spec.WriteString("custom_requirements:\n")
	if name == "global" {
		c.global = true
		addKwokNodes(b, ctx, cs, 1000)
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		require.NoError(b, err)
		for _, n := range list.Items {
			c.nodes = append(c.nodes, n.Name)
		}
		c.pods = len(c.nodes)
		spec.WriteString(`- id: every-node
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
  command: {id: scheduler, timeout: 600, data: {kubernetes: {global: true, pod: {spec: ` + vsPodSpec(true) + `}}}}
`)
		c.name = fmt.Sprintf("global (%d nodes)", c.pods)
	} else {
		n, err := strconv.Atoi(name)
		require.NoError(b, err)
		c.pods = n
		for i := range n {
			fmt.Fprintf(&spec, `- id: sleep-%d
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
  command: {id: scheduler, timeout: 120, data: {kubernetes: {pod: {spec: %s}}}}
`, i, vsPodSpec(false))
		}
		c.name = fmt.Sprintf("%d pods", n)
	}
	c.spec = spec.String()
	c.specFile = filepath.Join(b.TempDir(), "spec.yaml")
	require.NoError(b, os.WriteFile(c.specFile, []byte(c.spec), 0o600))
	return c
}

// vsPodSpec is the check pod's spec, as YAML flow for the spec and as the bare loop's pod.
func vsPodSpec(global bool) string {
	if global {
		return `{tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}], containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"]}]}`
	}
	return `{containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "sleep 1"]}]}`
}

// barePod is the bare loop's pod: the spec the library creates from the template (no service
// account token, a server-side deadline, FallbackToLogsOnError; for a node, the node affinity
// and the tolerations a DaemonSet's pods get), since each of these changes the pod's cost.
func (c *vsCase) barePod(node string) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		ActiveDeadlineSeconds:        ptr.To[int64](125),
		Containers: []corev1.Container{{Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sh", "-c", "sleep 1"},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}},
	}}
	if c.global {
		p.Spec.Containers[0].Command = []string{"true"}
		p.Spec.ActiveDeadlineSeconds = ptr.To[int64](605)
		p.Spec.Tolerations = []corev1.Toleration{{Key: testcluster.KwokNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		for _, key := range []string{"node.kubernetes.io/unschedulable", "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
			"node.kubernetes.io/pid-pressure", "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}},
		}}}
	}
	return p
}

// The sides of BenchmarkVsBare: 0 bare, 1 library, 2 CLI, 3 bare waiting for the container.
const sides = 4

var sideNames = [sides]string{"bare", "library", "CLI", "bare (container ended)"}

// measure runs one side once and records its time and the load.
func (c *vsCase) measure(b *testing.B, ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, cli string, side int) {
	b.Helper()
	var took time.Duration
	switch side {
	case 0, 3:
		start := time.Now()
		require.NoError(b, c.bare(ctx, cfg, side == 3))
		took = time.Since(start)
	case 1:
		debug.FreeOSMemory()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM to measure this run
		start := time.Now()
		d := run(b, ctx, cfg, c.ns, c.spec)
		took = time.Since(start)
		c.peakLib = max(c.peakLib, peakRSS())
		for _, r := range d.Requirements {
			if r.Status != runner.StatusPass || (c.global && len(r.Nodes) != c.pods) {
				b.Fatalf("%s: %s on %d nodes: %s %s", r.ID, r.Status, len(r.Nodes), r.Message, r.Error)
			}
		}
		requireNoPods(b, cs, c.ns)
	case 2:
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, cli, "run", c.specFile, "--kubeconfig", cluster.Kubeconfig, "-n", c.ns, "-q", "-o", "json")
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		err := cmd.Run()
		took = time.Since(start)
		if err != nil {
			b.Fatalf("preflight run: %v\n%s\n%.2000s", err, errOut.String(), out.String())
		}
		// An upper bound: Linux starts a child's maximum RSS from its parent's resident size
		// at the exec (Go starts children with CLONE_VM).
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.peakCLI = max(c.peakCLI, ru.Maxrss*1024)
		}
		requireNoPods(b, cs, c.ns)
	}
	c.times[side] = append(c.times[side], took.Seconds())
	c.loads = append(c.loads, loadAverage())
	// Printed as it comes (a benchmark's log shows only when it ends): a round of the global
	// case takes minutes.
	fmt.Printf("%s %s: %s (load %.2f)\n", c.name, sideNames[side], took.Round(time.Millisecond), c.loads[len(c.loads)-1])
	waitNoPods(b, ctx, cs, c.ns) // the bare loop's pods may still be terminating
	// A pod deleted with a grace period of 0 is gone from the API while its node still tears
	// its sandbox down: let the node settle, so that no side pays for the one before it.
	settle := 5 * time.Second
	if c.global {
		settle = 15 * time.Second
	}
	time.Sleep(settle)
}

// bare is the bare client-go loop: one watch on the round's pods, then every pod created
// (at most podrun.DefaultMaxConcurrentPods in flight), waited for until its phase is
// terminal (or, with containerEnded, until its container has terminated), its log read and
// the pod deleted, with the run's client rate limits.
func (c *vsCase) bare(ctx context.Context, cfg *rest.Config, containerEnded bool) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = podrun.DefaultQPS, podrun.DefaultBurst
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	label := "bare-" + randomSuffix()
	sel := "preflight.test/bare=" + label
	pods := cs.CoreV1().Pods(c.ns)
	// A watch from the list's resource version that resumes where it broke off: under load
	// the API server closes watches whose reader falls behind.
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w, err := watchtools.NewRetryWatcherWithContext(wctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return pods.Watch(ctx, o)
		},
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	var mu sync.Mutex
	terminal := map[string]chan struct{}{} // by pod name, closed at the terminal phase
	waiter := func(name string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		ch := terminal[name]
		if ch == nil {
			ch = make(chan struct{})
			terminal[name] = ch
		}
		return ch
	}
	go func() {
		seen := map[string]bool{}
		for e := range w.ResultChan() {
			p, ok := e.Object.(*corev1.Pod)
			if !ok || e.Type == watch.Deleted || seen[p.Name] {
				continue
			}
			done := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
			for _, st := range p.Status.ContainerStatuses {
				done = done || (containerEnded && st.State.Terminated != nil)
			}
			if done {
				seen[p.Name] = true
				close(waiter(p.Name))
			}
		}
	}()
	targets := c.nodes
	if !c.global {
		targets = make([]string, c.pods)
	}
	var g errgroup.Group
	g.SetLimit(min(len(targets), podrun.DefaultMaxConcurrentPods))
	for _, node := range targets {
		g.Go(func() error {
			p := c.barePod(node)
			p.GenerateName = "bare-"
			p.Labels = map[string]string{"preflight.test/bare": label}
			created, err := pods.Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			select {
			case <-waiter(created.Name):
			case <-ctx.Done():
				return ctx.Err()
			}
			if rc, err := pods.GetLogs(created.Name, &corev1.PodLogOptions{Container: "c"}).Stream(ctx); err == nil {
				_, _ = io.Copy(io.Discard, rc) // kwok nodes have no logs: the error is what a check notes
				rc.Close()
			}
			return pods.Delete(ctx, created.Name, metav1.DeleteOptions{})
		})
	}
	return g.Wait()
}

// ratios returns the range of the per-round ratios of side to base.
func (c *vsCase) ratios(side, base int) string {
	var rs []float64
	for i := range c.times[base] {
		rs = append(rs, c.times[side][i]/c.times[base][i])
	}
	slices.Sort(rs)
	return fmt.Sprintf("%.2f–%.2f", rs[0], rs[len(rs)-1])
}

func (c *vsCase) loadRange() string {
	return fmt.Sprintf("%.1f–%.1f", slices.Min(c.loads), slices.Max(c.loads))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round2(sec float64) string { return fmt.Sprintf("%.2f s", sec) }

// loadAverage is the machine's 1-minute load average.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return v
}

// buildCLI builds the preflight CLI (examples/preflight) into the benchmark's temp dir.
func buildCLI(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "preflight")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/preflightkit/preflight/examples/preflight")
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "%s", out)
	return bin
}

// addKwokNodes makes sure n kwok nodes exist for the benchmark and deletes, when it ends,
// those it added (other tests on the shared cluster expect the usual number), unless
// PREFLIGHT_BENCH_KEEP_NODES is set (to run several benchmarks over them).
func addKwokNodes(b *testing.B, ctx context.Context, cs kubernetes.Interface, n int) {
	if !cluster.Local() {
		b.Skip("kwok nodes are only at hand on the local cluster")
	}
	before, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: testcluster.KwokNodeLabel + "=kwok"})
	require.NoError(b, err)
	had := map[string]bool{}
	for _, nd := range before.Items {
		had[nd.Name] = true
	}
	b.Cleanup(func() {
		if os.Getenv("PREFLIGHT_BENCH_KEEP_NODES") != "" {
			return
		}
		for i := range n {
			if name := testcluster.KwokNodeName(i); !had[name] {
				_ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
			}
		}
	})
	require.NoError(b, cluster.EnsureKwokNodes(ctx, n))
}

// waitNoPods waits until ns has no pod left (deleted pods may take seconds to go).
func waitNoPods(b *testing.B, ctx context.Context, cs kubernetes.Interface, ns string) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(b, err)
		if len(list.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			require.NoError(b, errors.New("pods still there after 2 minutes"), "namespace %s: %d pods", ns, len(list.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
