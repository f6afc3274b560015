//go:build e2e

package gatehttp

import (
	"context"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/runner"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{KwokNodes: 10})
	os.Exit(m.Run())
}

// everyNodeSpec runs a pod on every node, the kwok nodes included; COMMAND is the real
// node's container command and ANNOTATIONS the kwok pods' (their exit code).
const everyNodeSpec = `custom_requirements:
- id: every-node
  message: Every node can run the check
  results:
  - status: success
    message: ok
    condition: {status_code: 0}
  - status: error
    message: failed
  command:
    id: scheduler
    timeout: 300
    data:
      kubernetes:
        global: true
        pod:
          metadata:
            annotations: ANNOTATIONS
          spec:
            tolerations:
            - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
            containers:
            - name: check
              image: busybox
              command: COMMAND
`

func clusterHarness(t *testing.T, annotations, command string) (*harness, kubernetes.Interface, string, []string) {
	t.Helper()
	cfg, err := cluster.RestConfig()
	require.NoError(t, err)
	cs, err := cluster.Client()
	require.NoError(t, err)
	ns := cluster.Namespace(t, nil)
	t.Cleanup(func() { assert.Empty(t, pods(t, cs, ns), "no pod is left") })
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	spec := strings.NewReplacer("ANNOTATIONS", annotations, "COMMAND", command).Replace(everyNodeSpec)
	hs := newHarness(t, spec, Options{Runner: runner.Options{Config: cfg, Namespace: ns}})
	return hs, cs, ns, names
}

func pods(t *testing.T, cs kubernetes.Interface, ns string) []string {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name+" ("+string(p.Status.Phase)+")")
	}
	return out
}

// TestNodeEventsOnRealCluster streams a per-node check over the real node and the kwok
// nodes: one node event per node, each as its pod finishes, with the node count, before the
// requirement's finished event.
func TestNodeEventsOnRealCluster(t *testing.T) {
	hs, _, _, nodes := clusterHarness(t, `{preflight.test/exit-code: "0", preflight.test/message: "simulated"}`, `["sh", "-c", "echo checked"]`)
	require.Greater(t, len(nodes), 10, "the real node and the kwok nodes")
	id := hs.start(nil)
	_, ch := hs.stream(t.Context(), id, "")
	evs := all(t, ch)
	seen := map[string]bool{}
	finished := -1
	for i, e := range evs {
		if e.Type == "done" {
			continue
		}
		ev := eventOf(t, e)
		switch ev.Type {
		case runner.EventNode:
			assert.Equal(t, -1, finished, "node events come before finished")
			assert.False(t, seen[ev.Node.Node], "node %s once", ev.Node.Node)
			seen[ev.Node.Node] = true
			assert.Equal(t, len(nodes), ev.Nodes, "each event says how many nodes there are")
			assert.Equal(t, runner.StatusPass, ev.Node.Status, "%s: %s %s", ev.Node.Node, ev.Node.Message, ev.Node.Error)
		case runner.EventFinished:
			finished = i
		}
	}
	var got []string
	for n := range seen {
		got = append(got, n)
	}
	sort.Strings(got)
	assert.Equal(t, nodes, got, "a node event for every node of the cluster")
	done := doneOf(t, evs[len(evs)-1])
	assert.Equal(t, runner.GatePass, done.Decision.Gate)
	assert.True(t, done.DeployAllowed)
	assert.Len(t, done.Decision.Requirements[0].Nodes, len(nodes))
	t.Logf("%d node events over %d nodes", len(seen), len(nodes))
}

// TestDeleteMidRunOnRealCluster cancels a run whose pods run (they never end by themselves):
// DELETE answers once the run has ended, and no pod is left.
func TestDeleteMidRunOnRealCluster(t *testing.T) {
	hs, cs, ns, _ := clusterHarness(t, `{}`, `["sleep", "300"]`)
	id := hs.start(nil)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		running := 0
		list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running >= 5 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the pods never ran (%d running)", running)
		time.Sleep(200 * time.Millisecond)
	}
	var a runAnswer
	code, raw := hs.do("DELETE", "/runs/"+id, nil, &a)
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, "canceled", a.State)
	assert.Equal(t, runner.GateBlocked, a.Decision.Gate)
	assert.False(t, a.DeployAllowed)
	assert.Empty(t, pods(t, cs, ns), "DELETE answers once the run's pods are gone")
}
