//go:build e2e

package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{KwokNodes: 10})
	os.Exit(m.Run())
}

// nodesSpec checks every node: the kwok nodes pass, the real node fails, and the page shows
// the fan-out's progress as the nodes finish, then its failing node.
const nodesSpec = `custom_requirements:
- id: license-file
  message: The vendor license file is on every node
  results:
  - status: success
    message: License found.
    condition: {status_code: 0}
  - status: error
    message: License missing.
  command:
    id: scheduler
    timeout: 120
    data:
      kubernetes:
        global: true
        pod:
          metadata:
            annotations: {preflight.test/exit-code: "0", preflight.test/message: "simulated"}
          spec:
            tolerations:
            - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
            containers:
            - name: check
              image: busybox
              command: ["sh", "-c", "exit 1"]
`

// TestBrowserNodeProgressOnRealCluster runs a check over the real cluster's nodes in the
// example console: the row counts the nodes as they finish ("57 of 101 nodes") and lists
// the failing one; no pod is left.
func TestBrowserNodeProgressOnRealCluster(t *testing.T) {
	ctx := browser(t)
	cs, err := cluster.Client()
	require.NoError(t, err)
	ns := cluster.Namespace(t, nil)
	t.Cleanup(func() {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, pods.Items, "no pod is left")
	})
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	total := len(nodes.Items)
	url, _ := startConsole(t, nodesSpec, "--kubeconfig", cluster.Kubeconfig, "-n", ns)
	shots := screenshotDir(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	waitFor(t, ctx, "the row", row("license-file")+`?.dataset.status === 'pending'`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#start"))))

	// The row counts the nodes as they finish, before the requirement is done.
	waitFor(t, ctx, "nodes counted mid-run", `(() => {
		const r = `+row("license-file")+`;
		const m = /^(\d+) of (\d+) nodes/.exec(r.querySelector('.node-count')?.textContent || '');
		return r.dataset.status === 'running' && m !== null && +m[1] > 0 && +m[1] < +m[2] && +m[2] === `+itoa(total)+`;
	})()`)
	assert.Less(t, eval[float64](t, ctx, row("license-file")+`.querySelector('progress').value`), float64(total))
	screenshot(t, ctx, shots, "console-nodes-running.png")

	waitFor(t, ctx, "the gate", `document.getElementById('gate').dataset.gate === 'needs_ack'`)
	assert.Equal(t, "fail", status(t, ctx, "license-file"))
	assert.Equal(t, itoa(total)+" of "+itoa(total)+" nodes, 1 not passing", eval[string](t, ctx, row("license-file")+`.querySelector('.node-count').textContent`))
	assert.Equal(t, testcluster.RealNodeName+": fail – License missing.", eval[string](t, ctx, row("license-file")+`.querySelector('ul.failing li').textContent`))
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`))
	screenshot(t, ctx, shots, "console-nodes.png")
}

func itoa(n int) string { return fmt.Sprint(n) }
