package clusterinfo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/internal/celenv"
)

func node(name string, ready corev1.ConditionStatus, mem string, taints ...corev1.Taint) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux"}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("4"),
				corev1.ResourceMemory: resource.MustParse("16Gi"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("3500m"),
				corev1.ResourceMemory: resource.MustParse(mem),
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.36.3"},
		},
	}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: ready},
		}
	}
	return n
}

func TestFetchFake(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset(
		node("b", corev1.ConditionTrue, "15Gi"),
		node("a", corev1.ConditionFalse, "7Gi", corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}),
		node("c", "", "8Gi"),
	)
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.30.2+k3s1", Platform: "linux/arm64"}
	got, err := fetch(context.Background(), cs)
	require.NoError(t, err)
	want := map[string]any{
		"version": "1.30.2", "git_version": "v1.30.2+k3s1", "major": int64(1), "minor": int64(30), "platform": "linux/arm64",
		"nodes": []any{
			map[string]any{
				"name": "a", "labels": map[string]any{"kubernetes.io/os": "linux"}, "ready": false, "unschedulable": false,
				"taints":          []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}},
				"capacity":        map[string]any{"cpu": "4", "memory": "16Gi"},
				"allocatable":     map[string]any{"cpu": "3500m", "memory": "7Gi"},
				"kubelet_version": "v1.36.3",
			},
			map[string]any{
				"name": "b", "labels": map[string]any{"kubernetes.io/os": "linux"}, "ready": true, "unschedulable": false,
				"taints":          []any{},
				"capacity":        map[string]any{"cpu": "4", "memory": "16Gi"},
				"allocatable":     map[string]any{"cpu": "3500m", "memory": "15Gi"},
				"kubelet_version": "v1.36.3",
			},
			map[string]any{
				"name": "c", "labels": map[string]any{"kubernetes.io/os": "linux"}, "ready": false, "unschedulable": false,
				"taints":          []any{},
				"capacity":        map[string]any{"cpu": "4", "memory": "16Gi"},
				"allocatable":     map[string]any{"cpu": "3500m", "memory": "8Gi"},
				"kubelet_version": "v1.36.3",
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("facts (-want +got):\n%s", diff)
	}
}

func TestParseGitVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                  string
		major, minor, patch int
		wantErr             bool
	}{
		{in: "v1.36.3", major: 1, minor: 36, patch: 3},
		{in: "v1.29.3-gke.1093000", major: 1, minor: 29, patch: 3},
		{in: "v1.30.2+k3s1", major: 1, minor: 30, patch: 2},
		{in: "v1.31.0-eks-a737599", major: 1, minor: 31},
		{in: "1.28.4", major: 1, minor: 28, patch: 4},
		{in: "v0.0.0-master+$Format:%H$", major: 0},
		{in: "", wantErr: true},
		{in: "v1.30", wantErr: true},
		{in: "v1.x.0", wantErr: true},
		{in: "v1.-1.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			ma, mi, pa, err := parseGitVersion(tt.in)
			if tt.wantErr {
				require.ErrorContains(t, err, "not vMAJOR.MINOR.PATCH")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []int{tt.major, tt.minor, tt.patch}, []int{ma, mi, pa})
		})
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	t.Run("nodes forbidden", func(t *testing.T) {
		t.Parallel()
		cs := fake.NewClientset()
		cs.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", fmt.Errorf(`User "bob" cannot list resource "nodes" in API group "" at the cluster scope`))
		})
		_, err := fetch(context.Background(), cs)
		require.ErrorContains(t, err, "cluster facts: cannot list nodes at the cluster scope: forbidden:")
		require.ErrorContains(t, err, `User "bob" cannot list`)
	})
	t.Run("bad version", func(t *testing.T) {
		t.Parallel()
		cs := fake.NewClientset()
		cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "banana"}
		_, err := fetch(context.Background(), cs)
		require.ErrorContains(t, err, `the server reports version "banana"`)
	})
	t.Run("no config", func(t *testing.T) {
		t.Parallel()
		_, err := Fetch(context.Background(), nil)
		require.ErrorContains(t, err, "no cluster configuration")
	})
	t.Run("too many nodes", func(t *testing.T) {
		t.Parallel()
		cs := fake.NewClientset()
		cs.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, &corev1.NodeList{Items: make([]corev1.Node, MaxNodes+1)}, nil
		})
		_, err := fetch(context.Background(), cs)
		require.ErrorContains(t, err, "more than 20000 nodes")
	})
}

// pagedNodes serves n nodes in pages that honour Limit and Continue; the continue token of
// the page starting at expireAt (> 0) expires once.
func pagedNodes(n, expireAt int, calls *[]metav1.ListOptions) clienttesting.ReactionFunc {
	expired := false
	return func(a clienttesting.Action) (bool, runtime.Object, error) {
		opts := a.(clienttesting.ListActionImpl).ListOptions
		*calls = append(*calls, opts)
		start := 0
		if opts.Continue != "" {
			_, _ = fmt.Sscan(opts.Continue, &start)
			if start == expireAt && !expired {
				expired = true
				return true, nil, apierrors.NewResourceExpired("continue token expired")
			}
		}
		end := n
		if opts.Limit > 0 {
			end = min(start+int(opts.Limit), n)
		}
		l := &corev1.NodeList{}
		for i := start; i < end; i++ {
			l.Items = append(l.Items, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%05d", i)}})
		}
		if end < n {
			l.Continue = fmt.Sprint(end)
		}
		return true, l, nil
	}
}

func TestListNodesPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		expireAt int
		calls    int
		err      string
	}{
		{name: "pages", n: 1201, calls: 3},
		{name: "exactly MaxNodes", n: MaxNodes, calls: MaxNodes / pageSize},
		{name: "over MaxNodes stops there", n: MaxNodes + 1, calls: MaxNodes/pageSize + 1, err: "more than 20000 nodes"},
		// Two pages, the expired third, then the pager's one full list.
		{name: "expired continue lists again in full", n: 1201, expireAt: 1000, calls: 2 + 1 + 1},
		{name: "expired continue over MaxNodes", n: MaxNodes + 1, expireAt: 1000, calls: 2 + 1 + 1, err: "more than 20000 nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := fake.NewClientset()
			var calls []metav1.ListOptions
			cs.PrependReactor("list", "nodes", pagedNodes(tt.n, tt.expireAt, &calls))
			nodes, err := listNodes(context.Background(), cs)
			assert.Len(t, calls, tt.calls)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, nodes, tt.n)
			for i := range nodes {
				require.Equal(t, fmt.Sprintf("n%05d", i), nodes[i].Name, "each node once, in order")
			}
			for i, c := range calls {
				if i > 0 && c.Continue == "" {
					assert.Equal(t, int64(MaxNodes+1), c.Limit, "the full list is bounded too")
				} else {
					assert.Equal(t, int64(pageSize), c.Limit)
				}
			}
		})
	}
}

// apiServer is a minimal API server over HTTP: /version and a paginated node list.
func apiServer(t *testing.T, nodes int, listCalls *atomic.Int32) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(version.Info{GitVersion: "v1.36.3", Platform: "linux/amd64"})
	})
	mux.HandleFunc("/api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		listCalls.Add(1)
		start := 0
		if c := r.URL.Query().Get("continue"); c != "" {
			_, _ = fmt.Sscan(c, &start)
		}
		end := min(start+pageSize, nodes)
		assert.Equal(t, fmt.Sprint(pageSize), r.URL.Query().Get("limit"))
		l := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}
		for i := start; i < end; i++ {
			l.Items = append(l.Items, *node(fmt.Sprintf("n%04d", i), corev1.ConditionTrue, "8Gi"))
		}
		if end < nodes {
			l.Continue = fmt.Sprint(end)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(l)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchHTTP(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := apiServer(t, 1201, &calls)
	cfg := &rest.Config{Host: srv.URL}
	got, err := Fetch(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, "1.36.3", got["version"])
	nodes := got["nodes"].([]any)
	require.Len(t, nodes, 1201)
	assert.Equal(t, "n1200", nodes[1200].(map[string]any)["name"])
	assert.Equal(t, int32(3), calls.Load(), "three pages of 500")
	assert.Equal(t, &rest.Config{Host: srv.URL}, cfg, "the caller's config is not mutated")
}

func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := apiServer(t, 1, &calls)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Fetch(ctx, &rest.Config{Host: srv.URL})
	require.ErrorIs(t, err, context.Canceled)
}

func BenchmarkFetch1000Nodes(b *testing.B) {
	nodes := make([]runtime.Object, 1000)
	for i := range nodes {
		nodes[i] = node(fmt.Sprintf("n%04d", i), corev1.ConditionTrue, "8Gi")
	}
	cs := fake.NewClientset(nodes...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fetch(context.Background(), cs); err != nil {
			b.Fatal(err)
		}
	}
}

// The facts Fetch returns are what CEL declares as `cluster`: every key is a declared field
// (so no fact is out of reach of an expression), every declared field is there, and
// expressions over them compile against the declared types and evaluate against the maps.
func TestFactsMatchDeclaredTypes(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset(
		node("a", corev1.ConditionTrue, "15Gi", corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}),
		node("b", corev1.ConditionTrue, "7Gi"),
		node("c", corev1.ConditionFalse, "8Gi"),
	)
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.30.2+k3s1", Platform: "linux/arm64"}
	facts, err := fetch(context.Background(), cs)
	require.NoError(t, err)

	declared := celenv.ObjectTypes()
	keys := func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, declared["cluster"].Fields, keys(facts))
	n0 := facts["nodes"].([]any)[0].(map[string]any)
	assert.Equal(t, declared["cluster.nodes[]"].Fields, keys(n0))
	assert.Equal(t, declared["cluster.nodes[].taints[]"].Fields, keys(n0["taints"].([]any)[0].(map[string]any)))
	assert.Equal(t, MaxNodes, celenv.MaxClusterNodes)

	actx := &analyzer.Context{Cluster: facts}
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{`cluster.version == "1.30.2" && cluster.git_version == "v1.30.2+k3s1" && cluster.platform == "linux/arm64"`, true},
		{`cluster.major == 1 && cluster.minor >= 30 && semver(cluster.version).isGreaterThan(semver("1.29.0"))`, true},
		{`cluster.nodes.size() == 3 && cluster.nodes.filter(n, n.ready).size() == 2`, true},
		{`cluster.nodes.filter(n, n.ready && !n.unschedulable &&
		    !n.taints.exists(t, t.effect == "NoSchedule") &&
		    quantity(n.allocatable.memory).compareTo(quantity("8Gi")) >= 0).size() >= 1`, false},
		{`cluster.nodes.all(n, n.labels["kubernetes.io/os"] == "linux" && "memory" in n.capacity && n.kubelet_version.startsWith("v1."))`, true},
		{`cluster.nodes[0].name == "a" && cluster.nodes[0].taints[0].key == "node-role.kubernetes.io/control-plane" && has(cluster.nodes[0].labels)`, true},
		{`cluster.nodes.exists(n, n.?labels["missing"].orValue("") == "x")`, false},
	} {
		t.Run(tt.src, func(t *testing.T) {
			e, err := analyzer.Compile(tt.src, analyzer.ScopeWhen)
			require.NoError(t, err)
			got, err := e.Eval(context.Background(), actx, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
