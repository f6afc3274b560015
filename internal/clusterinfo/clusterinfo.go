// Package clusterinfo reads the cluster facts CEL sees as `cluster`: the server's version and
// its nodes. The runner calls Fetch once per run, and only when an expression reads `cluster`.
package clusterinfo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
)

// MaxNodes bounds how many nodes Fetch reads. A cluster with more fails the fetch rather than
// hand CEL a partial list: a "3 ready nodes" check must never pass on part of the cluster
// (fail closed), and a count of nodes that is silently capped would be wrong.
const MaxNodes = 20000

// pageSize is how many nodes one list request asks for.
const pageSize = 500

// Fetch returns the `cluster` variable:
//
//	{
//	  "version": "1.36.3",        // major.minor.patch of the API server, for semver()
//	  "git_version": "v1.36.3",   // the server's own string, pre-release and build kept
//	  "major": 1, "minor": 36,    // as integers
//	  "platform": "linux/amd64",
//	  "nodes": [{
//	    "name": "node-1",
//	    "labels": {"kubernetes.io/os": "linux", ...},
//	    "ready": true,              // the NodeReady condition is True
//	    "unschedulable": false,     // cordoned
//	    "taints": [{"key": "...", "value": "...", "effect": "NoSchedule"}],
//	    "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110", ...},
//	    "allocatable": {...},       // quantity strings, for quantity()
//	    "kubelet_version": "v1.36.3"
//	  }, ...]                       // sorted by name
//	}
//
// version drops a vendor's pre-release and build suffixes ("v1.29.3-gke.1093000" gives
// "1.29.3"): semver would otherwise order 1.29.3-gke below 1.29.3, the trap Helm users know
// from semverCompare. git_version keeps the full string.
//
// cfg is not mutated. Fetch needs `get` on the /version endpoint (every authenticated user
// has it) and `list` on nodes at the cluster scope; a denial is an error that says so, never
// an empty list.
func Fetch(ctx context.Context, cfg *rest.Config) (map[string]any, error) {
	if cfg == nil {
		return nil, fmt.Errorf("cluster facts need a cluster: no cluster configuration was given")
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("cluster facts: %w", err)
	}
	return fetch(ctx, cs)
}

// fetch does Fetch's work with any clientset, so that tests can hand it a fake.
func fetch(ctx context.Context, cs kubernetes.Interface) (map[string]any, error) {
	info, err := serverVersion(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("cluster facts: reading the server version: %w", err)
	}
	out, err := versionFacts(info)
	if err != nil {
		return nil, fmt.Errorf("cluster facts: %w", err)
	}
	nodes, err := listNodes(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("cluster facts: %w", err)
	}
	facts := make([]any, 0, len(nodes))
	for i := range nodes {
		facts = append(facts, nodeFacts(&nodes[i]))
	}
	out["nodes"] = facts
	return out, nil
}

// serverVersion reads /version under ctx. The discovery client's ServerVersion takes no
// context, so the request is made through its REST client when there is one (a fake
// clientset has none).
func serverVersion(ctx context.Context, cs kubernetes.Interface) (*version.Info, error) {
	rc := cs.Discovery().RESTClient()
	if rc == nil {
		return cs.Discovery().ServerVersion()
	}
	body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("decoding /version: %w", err)
	}
	return &info, nil
}

// versionFacts turns the server's version into the version keys of `cluster`.
func versionFacts(info *version.Info) (map[string]any, error) {
	major, minor, patch, err := parseGitVersion(info.GitVersion)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"version":     fmt.Sprintf("%d.%d.%d", major, minor, patch),
		"git_version": info.GitVersion,
		"major":       int64(major),
		"minor":       int64(minor),
		"platform":    info.Platform,
	}, nil
}

// parseGitVersion reads "v1.30.2", "v1.30.2+k3s1" or "v1.29.3-gke.1093000" as 1, 30, 2.
func parseGitVersion(s string) (major, minor, patch int, err error) {
	core := strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("the server reports version %q, not vMAJOR.MINOR.PATCH", s)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, 0, 0, fmt.Errorf("the server reports version %q, not vMAJOR.MINOR.PATCH", s)
		}
		nums[i] = n
	}
	return nums[0], nums[1], nums[2], nil
}

// errTooManyNodes stops a node list that passes MaxNodes.
var errTooManyNodes = fmt.Errorf("the cluster has more than %d nodes (clusterinfo.MaxNodes); cluster.nodes would be incomplete", MaxNodes)

// listNodes lists every node, page by page (client-go's pager, which falls back to one full
// list when a continue token expires), sorted by name.
func listNodes(ctx context.Context, cs kubernetes.Interface) ([]corev1.Node, error) {
	seen := 0
	lp := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		if opts.Continue == "" {
			seen = 0 // the first page, or the pager's full list after an expired continue token
		}
		if opts.Limit == 0 {
			opts.Limit = MaxNodes + 1 // the pager's full list asks for no limit; one past MaxNodes tells
		}
		page, err := cs.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, err
		}
		if seen += len(page.Items); seen > MaxNodes {
			return nil, errTooManyNodes
		}
		return page, nil
	})
	lp.PageSize = pageSize
	obj, _, err := lp.List(ctx, metav1.ListOptions{})
	switch {
	case errors.Is(err, errTooManyNodes):
		return nil, err
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("cannot list nodes at the cluster scope: forbidden: %w (grant list on nodes to the identity the run uses)", err)
	case err != nil:
		return nil, fmt.Errorf("cannot list nodes at the cluster scope: %w", err)
	}
	var nodes []corev1.Node
	if err := meta.EachListItem(obj, func(o runtime.Object) error {
		n, ok := o.(*corev1.Node)
		if !ok {
			return fmt.Errorf("cannot list nodes at the cluster scope: the list holds a %T", o)
		}
		nodes = append(nodes, *n)
		return nil
	}); err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes, nil
}

// nodeFacts is one node as `cluster.nodes` shows it.
func nodeFacts(n *corev1.Node) map[string]any {
	labels := make(map[string]any, len(n.Labels))
	for k, v := range n.Labels {
		labels[k] = v
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	taints := make([]any, 0, len(n.Spec.Taints))
	for _, t := range n.Spec.Taints {
		taints = append(taints, map[string]any{"key": t.Key, "value": t.Value, "effect": string(t.Effect)})
	}
	return map[string]any{
		"name":            n.Name,
		"labels":          labels,
		"ready":           ready,
		"unschedulable":   n.Spec.Unschedulable,
		"taints":          taints,
		"capacity":        quantities(n.Status.Capacity),
		"allocatable":     quantities(n.Status.Allocatable),
		"kubelet_version": n.Status.NodeInfo.KubeletVersion,
	}
}

// quantities renders a resource list as quantity strings ("8Gi"), which CEL's quantity()
// parses.
func quantities(rl corev1.ResourceList) map[string]any {
	out := make(map[string]any, len(rl))
	for name, q := range rl {
		out[string(name)] = q.String()
	}
	return out
}
