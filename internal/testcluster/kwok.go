package testcluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KwokNodeName returns the name of the i-th simulated node.
func KwokNodeName(i int) string { return KwokNodePrefix + strconv.Itoa(i) }

// EnsureKwokNodes makes sure that simulated nodes kwok-node-0 ... kwok-node-(n-1) exist and
// waits until all of them are Ready. Nodes beyond n are left alone. The nodes carry
// KwokNodeAnnotation, the label KwokNodeLabel=kwok and a NoSchedule taint KwokNodeTaint, so
// only pods that tolerate the taint (or select them) land there; they advertise 16 CPUs,
// 64Gi of memory and 250 pods each. It needs kwok, which runs with the local cluster.
func (c *Cluster) EnsureKwokNodes(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	cfg, err := c.RestConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("testcluster: %w", err)
	}
	start := time.Now()
	existing, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: KwokNodeLabel + "=kwok"})
	if err != nil {
		return fmt.Errorf("testcluster: list kwok nodes: %w", err)
	}
	have := map[string]bool{}
	for _, nd := range existing.Items {
		have[nd.Name] = true
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 32)
		created  int
	)
	for i := 0; i < n; i++ {
		name := KwokNodeName(i)
		if have[name] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := cs.CoreV1().Nodes().Create(ctx, kwokNode(name), metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsAlreadyExists(err) && firstErr == nil {
				firstErr = fmt.Errorf("testcluster: create node %s: %w", name, err)
			}
			if err == nil {
				created++
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		want[KwokNodeName(i)] = true
	}
	ready := 0
	err = waitFor(ctx, fmt.Sprintf("%d kwok nodes to be Ready", n), 10*time.Minute, func(ctx context.Context) (bool, error) {
		if c.local {
			if runningPid(c.paths, compKwok) == 0 {
				return false, fmt.Errorf("kwok is not running: %w", errNotRunning)
			}
		}
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: KwokNodeLabel + "=kwok", ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		ready = 0
		for i := range list.Items {
			if want[list.Items[i].Name] && nodeReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
	if err != nil {
		return fmt.Errorf("testcluster: %w (%d ready)", err, ready)
	}
	c.log.Info("kwok nodes ready", "nodes", n, "created", created, "took", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func kwokNode(name string) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				KwokNodeLabel:            "kwok",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/role":     "agent",
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: KwokNodeTaint, Value: "fake", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:  KubernetesVersion,
				OperatingSystem: "linux",
				Architecture:    "amd64",
			},
		},
	}
}
