//go:build e2e

package e2e_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

// BenchmarkGlobal1000 runs one `global: true` check over the real node and 1000 kwok nodes
// (ensured by the harness; the nodes beyond the ones that existed before are deleted at the
// end). It reports API requests per node, the peak RSS of the process during the run, and the
// pods left (must be 0). Goal: at most 60s, 200 MB.
func BenchmarkGlobal1000(b *testing.B) {
	const kwokNodes = 1000
	cfg, cs := admin(b)
	ctx := context.Background()
	addKwokNodes(b, ctx, cs, kwokNodes)
	ns := namespace(b, nil)
	spec := `custom_requirements:
- id: every-node
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
  command:
    id: scheduler
    timeout: 600
    data:
      kubernetes:
        global: true
        pod:
          spec:
            tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
            containers: [{name: c, image: busybox, command: ["true"]}]
`
	ccfg, counter := countRequests(cfg)
	b.ResetTimer()
	var nodes int
	var peak int64
	for range b.N {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM to measure this run
		start := time.Now()
		d := run(b, ctx, ccfg, ns, spec)
		r := d.Requirements[0]
		nodes = len(r.Nodes)
		if r.Status != runner.StatusPass || nodes < kwokNodes+1 {
			b.Fatalf("%s on %d nodes: %s %s", r.Status, nodes, r.Message, r.Error)
		}
		peak = max(peak, peakRSS())
		b.Logf("global over %d nodes: %s, %d requests", nodes, time.Since(start).Round(time.Millisecond), counter.n.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.n.Load())/float64(b.N*nodes), "requests/node")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
	left, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(b, err)
	b.ReportMetric(float64(len(left.Items)), "pods-left")
}

// BenchmarkRollingStep100 runs one node step over 100 kwok nodes (labelled for the
// benchmark, unlabelled at the end) all at once and rolled 10 at a time
// (max_parallel_nodes: 10), in the same process, so that the ratio of the two is the cost of
// rolling. Each kwok pod ends as soon as it runs; a rolling node's place passes on only once
// its pod is gone. It reports the API requests per node, the most step pods that existed at
// once (from a pod watch), each node's mean time from its start to its pod's deletion (a
// rolling run takes about nodes/10 times that, plus the waits for the pods to be gone) and the
// pods left (must be 0).
func BenchmarkRollingStep100(b *testing.B) {
	const nodes = 100
	cfg, cs := admin(b)
	ctx := context.Background()
	if !cluster.Local() {
		b.Skip("kwok nodes are only at hand on the local cluster")
	}
	require.NoError(b, cluster.EnsureKwokNodes(ctx, nodes))
	key := "preflight.test/bench-roll-" + randomSuffix()
	for i := range nodes {
		labelNode(b, cs, testcluster.KwokNodeName(i), key, "yes")
	}
	for _, rolling := range []string{"", "max_parallel_nodes: 10"} {
		name := "all-at-once"
		if rolling != "" {
			name = "max_parallel_nodes=10"
		}
		b.Run(name, func(b *testing.B) {
			ns := namespace(b, nil)
			spec := strings.NewReplacer("SELECTOR_KEY", key, "ROLLING", rolling).Replace(`custom_requirements:
- id: roll
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
  command:
    id: scheduler
    timeout: 600
    data:
      kubernetes:
        node_selector: {SELECTOR_KEY: "yes"}
        ROLLING
        pod:
          spec:
            tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
            containers: [{name: step, image: busybox, command: ["true"]}]
`)
			ccfg, counter := countRequests(cfg)
			peak := 0
			var podTime time.Duration // each node's time from its start to its pod's deletion
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				pw := watchStepPods(b, cs, ns, "roll")
				b.StartTimer()
				d := run(b, ctx, ccfg, ns, spec)
				b.StopTimer()
				r := d.Requirements[0]
				if r.Status != runner.StatusPass || len(r.Nodes) != nodes {
					b.Fatalf("%s on %d nodes: %s %s", r.Status, len(r.Nodes), r.Message, r.Error)
				}
				p, _ := pw.settle(b)
				peak = max(peak, p)
				var longest, sum time.Duration
				for _, n := range r.Nodes {
					longest = max(longest, time.Duration(n.Duration))
					sum += time.Duration(n.Duration)
				}
				podTime += sum
				b.Logf("%s: %s; node durations: mean %s, longest %s", name, time.Duration(r.Duration), (sum / nodes).Round(time.Millisecond), longest.Round(time.Millisecond))
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(counter.n.Load())/float64(b.N*nodes), "requests/node")
			b.ReportMetric(float64(peak), "peak-pods")
			b.ReportMetric(float64(podTime.Milliseconds())/float64(b.N*nodes), "ms/node")
			left, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			require.NoError(b, err)
			b.ReportMetric(float64(len(left.Items)), "pods-left")
		})
	}
}
