//go:build e2e

package upgrade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/testcluster"
)

// benchLogLines is how many lines each pod of the logs benchmark logs: about 12 KiB with
// the timestamps, within a pod's share (20 KiB) of the default output limit.
const benchLogLines = 150

// bareConfig is the admin config with the rate limits a preflight run uses (QPS 100, burst
// 300), so that the bare loops are not slowed by client-go's defaults (5, 10). Like a run,
// each iteration of a bare loop builds its clients, and so its rate limiter, anew.
func bareConfig(b *testing.B) *rest.Config {
	cfg, err := cluster.RestConfig()
	if err != nil {
		b.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 300
	return cfg
}

// benchNamespace returns the admin clientset and a namespace for the benchmark, deleted
// (and waited for) when it ends.
func benchNamespace(b *testing.B) (kubernetes.Interface, string) {
	cs, err := cluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	return cs, cluster.Namespace(b, nil)
}

// prepared prepares a built-in command.
func prepared(b *testing.B, id string, data any) command.Prepared {
	c, _ := command.Builtins().Lookup(id)
	raw, err := json.Marshal(data)
	if err != nil {
		b.Fatal(err)
	}
	p, err := c.Prepare(raw, command.SpecContext{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// runOnce runs p as a new run would (a new session: new clients, permission checks).
func runOnce(b *testing.B, p command.Prepared, cfg *rest.Config) command.Output {
	res, err := p.Run(context.Background(), &command.Env{Config: cfg, Session: &command.Session{}, Logger: nil})
	if err != nil {
		b.Fatal(err)
	}
	return res.Outputs[0]
}

// BenchmarkLogs50Pods: the logs command over 50 pods (150 lines each, on the real node)
// against bare client-go reading the same logs (list, then one GetLogs with timestamps per
// pod): one after the other, and 16 at once as the command reads them.
func BenchmarkLogs50Pods(b *testing.B) {
	const pods = 50
	cs, ns := benchNamespace(b)
	ctx := context.Background()
	for i := range pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-logs-%02d", i), Labels: map[string]string{"app": "bench-logs"}},
			Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "log", Image: testcluster.BusyboxImage, Command: []string{"sh", "-c",
					fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i of a benchmark log, fifty bytes"; i=$((i+1)); done; exec sleep 3600`, benchLogLines)}}},
			},
		}
		onRealNode(&pod.Spec)
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { deleteBenchPods(b, cs, ns) })
	cfg := bareConfig(b)
	p := prepared(b, "logs", map[string]any{"namespace": ns, "label_selector": "app=bench-logs", "since_seconds": 3600})
	// Wait until every pod has logged its lines.
	deadline := time.Now().Add(hangGuard)
	for {
		out, err := p.Run(ctx, &command.Env{Config: cfg, Session: &command.Session{}})
		if err == nil && allLogged(out.Outputs[0], pods) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the pods did not log: %v", err)
		}
		time.Sleep(time.Second)
	}
	b.Run("preflight", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out := runOnce(b, p, cfg); !allLogged(out, pods) {
				b.Fatalf("not every line was read: %v", out.Object)
			}
		}
	})
	newBare := func(b *testing.B) kubernetes.Interface {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return cs
	}
	read := func(b *testing.B, bare kubernetes.Interface, name string) {
		raw, err := bare.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "log", Timestamps: true, SinceSeconds: ptr.To[int64](3600)}).DoRaw(ctx)
		if err != nil {
			b.Error(err)
		} else if n := strings.Count(string(raw), "\n"); n != benchLogLines {
			b.Errorf("%s: %d lines", name, n)
		}
	}
	// One pod after the other, and 16 at once as the command reads them.
	for _, v := range []struct {
		name   string
		atOnce int
	}{{"client-go", 1}, {"client-go-16-at-once", 16}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bare := newBare(b)
				list, err := bare.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=bench-logs"})
				if err != nil {
					b.Fatal(err)
				}
				atOnce(v.atOnce, list.Items, func(pod corev1.Pod) { read(b, bare, pod.Name) })
			}
		})
	}
}

// atOnce calls fn for every item, n at a time (1: one after the other, in order), and
// returns when all are done.
func atOnce[T any](n int, items []T, fn func(T)) {
	var g errgroup.Group
	g.SetLimit(n)
	for _, it := range items {
		g.Go(func() error { fn(it); return nil })
	}
	_ = g.Wait()
}

// allLogged reports whether the logs output has pods pods with benchLogLines lines each.
func allLogged(out command.Output, pods int) bool {
	obj, ok := out.Object.(map[string]any)
	if !ok || out.Truncated {
		return false
	}
	list := obj["pods"].([]any)
	if len(list) != pods {
		return false
	}
	for _, p := range list {
		if p.(map[string]any)["lines"] != int64(benchLogLines) {
			return false
		}
	}
	return true
}

// deleteBenchPods deletes the namespace's pods at once and waits until they are gone.
func deleteBenchPods(b *testing.B, cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		b.Error(err)
		return
	}
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return
		}
		if ctx.Err() != nil {
			b.Errorf("pods left in %s: %v", ns, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkDryRun100Objects: the dry_run command over 100 ConfigMaps (50 exist, 50 would be
// created) against a bare loop of dry-run server-side applies through the dynamic client.
func BenchmarkDryRun100Objects(b *testing.B) {
	const objects = 100
	cs, ns := benchNamespace(b)
	ctx := context.Background()
	var docs []string
	var objs []*unstructured.Unstructured
	for i := range objects {
		cm := map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%03d", i), "labels": map[string]any{"app": "bench"}},
			"data":     map[string]any{"config.yaml": strings.Repeat("key: value\n", 20), "version": "2.0.0"},
		}
		y, err := sigsyaml.Marshal(cm)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, string(y))
		objs = append(objs, &unstructured.Unstructured{Object: cm})
		if i%2 == 0 {
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%03d", i)}, Data: map[string]string{"version": "1.4.2"}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	cfg := bareConfig(b)
	p := prepared(b, "dry_run", map[string]any{"namespace": ns, "manifests": strings.Join(docs, "---\n")})
	b.Run("preflight", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := runOnce(b, p, cfg)
			if out.StatusCode != 0 || len(out.Object.(map[string]any)["objects"].([]any)) != objects {
				b.Fatalf("status %d: %s", out.StatusCode, out.Stdout)
			}
		}
	})
	configMaps := func(b *testing.B) dynamic.ResourceInterface {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
	}
	opts := metav1.ApplyOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: "preflight", Force: true}
	apply := func(b *testing.B, cms dynamic.ResourceInterface, o *unstructured.Unstructured) {
		if _, err := cms.Apply(ctx, o.GetName(), o, opts); err != nil {
			b.Error(err)
		}
	}
	// One object after the other, and 8 at once as the command applies them.
	for _, v := range []struct {
		name   string
		atOnce int
	}{{"client-go", 1}, {"client-go-8-at-once", 8}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cms := configMaps(b)
				atOnce(v.atOnce, objs, func(o *unstructured.Unstructured) { apply(b, cms, o) })
			}
		})
	}
	// Nothing was written: the 50 existing ConfigMaps keep their version, none was added.
	list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
	if err != nil {
		b.Fatal(err)
	}
	if len(list.Items) != 0 {
		b.Fatalf("the dry runs wrote %d ConfigMaps", len(list.Items))
	}
}
