package command

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	clienttesting "k8s.io/client-go/testing"
)

func TestKubernetesPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		want    kubernetesData
		labels  string
		wantErr []string // substrings, all must appear
	}{
		{name: "get", data: `{"api_version":"v1","kind":"Pod","namespace":"x","name":"p"}`,
			want: kubernetesData{APIVersion: "v1", Kind: "Pod", Namespace: "x", Name: "p"}},
		{name: "list with selectors", data: `{"api_version":"apps/v1","kind":"Deployment","label_selector":"app in (a,b), tier!=db","field_selector":"metadata.name=x"}`,
			want:   kubernetesData{APIVersion: "apps/v1", Kind: "Deployment", LabelSelector: "app in (a,b), tier!=db", FieldSelector: "metadata.name=x"},
			labels: "app in (a,b),tier!=db"},
		{name: "custom resource", data: `{"api_version":"ceph.rook.io/v1","kind":"CephCluster"}`,
			want: kubernetesData{APIVersion: "ceph.rook.io/v1", Kind: "CephCluster"}},
		{name: "no data", data: ``, wantErr: []string{"data.api_version: required", "data.kind: required"}},
		{name: "null data", data: `null`, wantErr: []string{"data.api_version: required", "data.kind: required"}},
		{name: "missing both", data: `{}`, wantErr: []string{"data.api_version: required", "data.kind: required"}},
		{name: "unknown field", data: `{"api_version":"v1","kind":"Pod","labels":"a=b"}`, wantErr: []string{`data.labels: unknown field (known fields: all_namespaces, api_version, field_selector, include_secret_values, kind, label_selector, name, namespace`}},
		{name: "all namespaces", data: `{"api_version":"v1","kind":"Pod","all_namespaces":true}`,
			want: kubernetesData{APIVersion: "v1", Kind: "Pod", AllNamespaces: true}},
		{name: "all namespaces and a name", data: `{"api_version":"v1","kind":"Pod","all_namespaces":true,"name":"p"}`, wantErr: []string{"data.all_namespaces: cannot be combined with data.name"}},
		{name: "all namespaces and a namespace", data: `{"api_version":"v1","kind":"Pod","all_namespaces":true,"namespace":"x"}`, wantErr: []string{"data.all_namespaces: cannot be combined with data.namespace"}},
		{name: "secret values", data: `{"api_version":"v1","kind":"Secret","include_secret_values":true}`,
			want: kubernetesData{APIVersion: "v1", Kind: "Secret", IncludeSecretValues: true}},
		{name: "secret values of another kind", data: `{"api_version":"v1","kind":"ConfigMap","include_secret_values":true}`, wantErr: []string{"data.include_secret_values: only applies to Secrets"}},
		{name: "secret values of another group", data: `{"api_version":"example.com/v1","kind":"Secret","include_secret_values":true}`, wantErr: []string{"data.include_secret_values: only applies to Secrets"}},
		{name: "case-sensitive keys", data: `{"API_Version":"v1","kind":"Pod"}`, wantErr: []string{`data.API_Version: unknown field`}},
		{name: "camelCase is not the field", data: `{"apiVersion":"v1","kind":"Pod"}`, wantErr: []string{`data.apiVersion: unknown field`}},
		{name: "duplicate field", data: `{"api_version":"v1","kind":"Pod","kind":"Node"}`, wantErr: []string{`data.kind: duplicate field`}},
		{name: "wrong type", data: `{"api_version":"v1","kind":5}`, wantErr: []string{"data.kind: must be a string, not number"}},
		{name: "bad api_version", data: `{"api_version":"a/b/c","kind":"Pod"}`, wantErr: []string{`data.api_version: "a/b/c" is not a group/version`}},
		{name: "group without version", data: `{"api_version":"apps/","kind":"Pod"}`, wantErr: []string{`data.api_version: "apps/"`}},
		{name: "kind with group", data: `{"api_version":"v1","kind":"apps/Deployment"}`, wantErr: []string{`data.kind: "apps/Deployment" is not a kind`}},
		{name: "name and label selector", data: `{"api_version":"v1","kind":"Pod","name":"p","label_selector":"a=b"}`, wantErr: []string{"data.label_selector: cannot be combined with data.name"}},
		{name: "name and field selector", data: `{"api_version":"v1","kind":"Pod","name":"p","field_selector":"a=b"}`, wantErr: []string{"data.field_selector: cannot be combined with data.name"}},
		{name: "bad label selector", data: `{"api_version":"v1","kind":"Pod","label_selector":"app in (a"}`, wantErr: []string{"data.label_selector:"}},
		{name: "bad field selector", data: `{"api_version":"v1","kind":"Pod","field_selector":"a"}`, wantErr: []string{"data.field_selector:", "invalid selector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := kubernetesCommand{}.Prepare(json.RawMessage(tt.data), SpecContext{})
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				assert.Nil(t, p)
				for _, w := range tt.wantErr {
					assert.Contains(t, dataErrText(err), w)
				}
				return
			}
			require.NoError(t, err)
			kp := p.(*kubernetesPrepared)
			if diff := cmp.Diff(tt.want, kp.data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
			if tt.labels != "" {
				assert.Equal(t, tt.labels, kp.labels)
			}
		})
	}
}

// kubeFixture is a fake cluster: discovery that knows pods, nodes and whatever a test adds,
// and a dynamic client holding objects.
type kubeFixture struct {
	disc *fakediscovery.FakeDiscovery
	dyn  *dynamicfake.FakeDynamicClient
	env  *Env
}

var (
	kubePodsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	kubeNodesGVR   = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	kubeWidgetsGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	kubeSecretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

func newKubeFixture(t testing.TB, objs ...runtime.Object) *kubeFixture {
	t.Helper()
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{{
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{
			{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "nodes", SingularName: "node", Namespaced: false, Kind: "Node", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "secrets", SingularName: "secret", Namespaced: true, Kind: "Secret", Verbs: metav1.Verbs{"get", "list"}},
		},
	}}}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		kubePodsGVR: "PodList", kubeNodesGVR: "NodeList", kubeWidgetsGVR: "WidgetList", kubeSecretsGVR: "SecretList",
	}, objs...)
	env := &Env{
		Namespace: "default",
		Config:    &rest.Config{Host: "http://127.0.0.1:1"}, // never dialled: the session holds the fakes
		Session:   &Session{},
	}
	_, err := env.Session.Get(kubeClientsKey{}, func() (any, error) {
		return &kubeClients{dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}, nil
	})
	require.NoError(t, err)
	return &kubeFixture{disc: disc, dyn: dyn, env: env}
}

func kubeObj(apiVersion, kind, ns, name string, labels map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name, "managedFields": []any{map[string]any{"manager": "kubectl"}}}
	if ns != "" {
		md["namespace"] = ns
	}
	if labels != nil {
		md["labels"] = labels
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}}
}

func prepareKube(t testing.TB, data string) Prepared {
	t.Helper()
	p, err := kubernetesCommand{}.Prepare(json.RawMessage(data), SpecContext{})
	require.NoError(t, err)
	return p
}

func kubeItemNames(t *testing.T, out Output) []string {
	t.Helper()
	m, ok := out.Object.(map[string]any)
	require.True(t, ok, "object is %T", out.Object)
	items, ok := m["items"].([]any)
	require.True(t, ok, "items is %T", m["items"])
	names := []string{}
	for _, it := range items {
		names = append(names, it.(map[string]any)["metadata"].(map[string]any)["name"].(string))
	}
	return names
}

func TestKubernetesRun(t *testing.T) {
	t.Parallel()
	mon := map[string]any{"app": "rook-ceph-mon"}
	objects := []runtime.Object{
		kubeObj("v1", "Pod", "rook-ceph", "mon-a", mon),
		kubeObj("v1", "Pod", "rook-ceph", "mon-b", mon),
		kubeObj("v1", "Pod", "rook-ceph", "osd-0", map[string]any{"app": "rook-ceph-osd"}),
		kubeObj("v1", "Pod", "default", "web", nil),
		kubeObj("v1", "Node", "", "node-1", nil),
	}
	tests := []struct {
		name      string
		data      string
		namespace string // env.Namespace
		code      int
		names     []string // list: item names; get: the object's name
		nilObject bool
	}{
		{name: "list by label", data: `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph","label_selector":"app=rook-ceph-mon"}`, names: []string{"mon-a", "mon-b"}},
		{name: "list none", data: `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph","label_selector":"app=nothing"}`, names: []string{}},
		{name: "list in a namespace that does not exist", data: `{"api_version":"v1","kind":"Pod","namespace":"gone"}`, names: []string{}},
		{name: "list defaults to the runner's namespace", data: `{"api_version":"v1","kind":"Pod"}`, namespace: "rook-ceph", names: []string{"mon-a", "mon-b", "osd-0"}},
		{name: "list defaults to default", data: `{"api_version":"v1","kind":"Pod"}`, names: []string{"web"}},
		{name: "cluster-scoped ignores namespace", data: `{"api_version":"v1","kind":"Node","namespace":"rook-ceph"}`, names: []string{"node-1"}},
		{name: "get", data: `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph","name":"mon-a"}`, names: []string{"mon-a"}},
		{name: "get cluster-scoped", data: `{"api_version":"v1","kind":"Node","name":"node-1"}`, names: []string{"node-1"}},
		{name: "get not found is data", data: `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph","name":"mon-z"}`, code: 1, nilObject: true},
		{name: "list in all namespaces", data: `{"api_version":"v1","kind":"Pod","all_namespaces":true}`, namespace: "rook-ceph", names: []string{"mon-a", "mon-b", "osd-0", "web"}},
		{name: "all namespaces with a selector", data: `{"api_version":"v1","kind":"Pod","all_namespaces":true,"label_selector":"app=rook-ceph-mon"}`, names: []string{"mon-a", "mon-b"}},
		{name: "all namespaces of a cluster-scoped kind", data: `{"api_version":"v1","kind":"Node","all_namespaces":true}`, names: []string{"node-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newKubeFixture(t, objects...)
			if tt.namespace != "" {
				f.env.Namespace = tt.namespace
			}
			res, err := prepareKube(t, tt.data).Run(context.Background(), f.env)
			require.NoError(t, err)
			require.Len(t, res.Outputs, 1)
			out := res.Outputs[0]
			assert.Equal(t, tt.code, out.StatusCode)
			assert.NoError(t, out.Err)
			if tt.nilObject {
				assert.Nil(t, out.Object)
				assert.Empty(t, out.Stdout)
				return
			}
			assert.False(t, out.Truncated)
			var fromStdout any
			require.NoError(t, json.Unmarshal([]byte(out.Stdout), &fromStdout), "stdout is the object as JSON")
			assert.Equal(t, out.Object, fromStdout)
			assert.NotContains(t, out.Stdout, "managedFields")
			m := out.Object.(map[string]any)
			if _, isList := m["items"]; isList {
				got := kubeItemNames(t, out)
				assert.ElementsMatch(t, tt.names, got)
				assert.True(t, strings.HasSuffix(m["kind"].(string), "List"))
			} else {
				assert.Equal(t, tt.names[0], m["metadata"].(map[string]any)["name"])
			}
		})
	}
}

func TestKubernetesRunErrors(t *testing.T) {
	t.Parallel()
	t.Run("no cluster", func(t *testing.T) {
		t.Parallel()
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod"}`).Run(context.Background(), &Env{})
		require.ErrorContains(t, err, "the kubernetes command needs a cluster")
	})
	t.Run("unknown kind", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		_, err := prepareKube(t, `{"api_version":"example.com/v1","kind":"Gadget"}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, `no kind "Gadget" in group/version "example.com/v1"`)
	})
	t.Run("plural kind gets a hint", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		_, err := prepareKube(t, `{"api_version":"v1","kind":"pods"}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, `no kind "pods" in group/version "v1"`)
		require.ErrorContains(t, err, `did you mean "Pod"?`)
	})
	forbidden := func(verb string) clienttesting.ReactionFunc {
		return func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
				fmt.Errorf(`User "system:serviceaccount:x:y" cannot %s resource "pods" in API group "" in the namespace "rook-ceph"`, verb))
		}
	}
	t.Run("list forbidden", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		f.dyn.PrependReactor("list", "pods", forbidden("list"))
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph"}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, `cannot list pods in namespace "rook-ceph": forbidden:`)
		require.ErrorContains(t, err, `cannot list resource "pods"`)
		require.True(t, apierrors.IsForbidden(err), "the API error stays reachable with errors.As")
	})
	t.Run("list in all namespaces forbidden", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		var sawNamespace []string
		f.dyn.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
			sawNamespace = append(sawNamespace, a.GetNamespace())
			return forbidden("list")(a)
		})
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod","all_namespaces":true}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, `cannot list pods in all namespaces: forbidden:`)
		require.ErrorContains(t, err, `(grant "list" on "pods" cluster-wide (a ClusterRole and a ClusterRoleBinding)`)
		assert.Equal(t, []string{""}, sawNamespace, "one list at the cluster scope")
		var pe *PermissionError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "", pe.Namespace)
		require.Len(t, pe.Denied, 1)
		assert.Equal(t, "list pods", pe.Denied[0].String())
		assert.True(t, pe.Denied[0].Cluster, "a list across namespaces needs the cluster-scope permission")
		assert.Contains(t, pe.Reasons[0], `cannot list resource "pods"`)
		assert.True(t, apierrors.IsForbidden(err))
	})
	t.Run("get forbidden", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		f.dyn.PrependReactor("get", "pods", forbidden("get"))
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod","namespace":"rook-ceph","name":"x"}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, `cannot get pods "x" in namespace "rook-ceph": forbidden:`)
		var pe *PermissionError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "rook-ceph", pe.Namespace)
		assert.False(t, pe.Denied[0].Cluster)
	})
	t.Run("other API error", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		f.dyn.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		})
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Node"}`).Run(context.Background(), f.env)
		require.ErrorContains(t, err, "cannot list nodes at the cluster scope: etcd is down")
	})
	t.Run("discovery that hangs is bounded by ctx", func(t *testing.T) {
		t.Parallel()
		f := newKubeFixture(t)
		release := make(chan struct{})
		defer close(release)
		f.env.Session = &Session{}
		_, _ = f.env.Session.Get(kubeClientsKey{}, func() (any, error) {
			return &kubeClients{dynamic: f.dyn, mapper: hangingMapper{release: release}}, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod"}`).Run(ctx, f.env)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "resolving kind Pod in v1")
	})
}

// hangingMapper is a REST mapper whose discovery never answers until released.
type hangingMapper struct {
	meta.ResettableRESTMapper
	release chan struct{}
}

func (h hangingMapper) RESTMapping(schema.GroupKind, ...string) (*meta.RESTMapping, error) {
	<-h.release
	return nil, errors.New("released")
}

// A CRD installed after the run's first discovery resolves: the unknown kind triggers one
// fresh discovery.
func TestKubernetesFreshCRD(t *testing.T) {
	t.Parallel()
	f := newKubeFixture(t, kubeObj("example.com/v1", "Widget", "default", "w1", nil))
	_, err := prepareKube(t, `{"api_version":"v1","kind":"Pod"}`).Run(context.Background(), f.env)
	require.NoError(t, err) // discovery is now cached without widgets
	f.disc.Resources = append(f.disc.Resources, &metav1.APIResourceList{
		GroupVersion: "example.com/v1",
		APIResources: []metav1.APIResource{{Name: "widgets", SingularName: "widget", Namespaced: true, Kind: "Widget"}},
	})
	res, err := prepareKube(t, `{"api_version":"example.com/v1","kind":"Widget","name":"w1"}`).Run(context.Background(), f.env)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Outputs[0].StatusCode)
	assert.Equal(t, "w1", res.Outputs[0].Object.(map[string]any)["metadata"].(map[string]any)["name"])
}

// pagedPods serves n pods in pages that honour Limit and Continue, the way the API server
// does; expireAt > 0 makes the continue token of that page expire once.
func kubePagedPods(n int, expireAt int, calls *[]metav1.ListOptions) clienttesting.ReactionFunc {
	expired := false
	return func(a clienttesting.Action) (bool, runtime.Object, error) {
		opts := a.(clienttesting.ListActionImpl).ListOptions
		*calls = append(*calls, opts)
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
			if start == expireAt && !expired {
				expired = true
				return true, nil, apierrors.NewResourceExpired("continue token expired")
			}
		}
		end := n
		if opts.Limit > 0 && start+int(opts.Limit) < n {
			end = start + int(opts.Limit)
		}
		l := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "PodList"}}
		l.SetResourceVersion("42")
		for i := start; i < end; i++ {
			l.Items = append(l.Items, *kubeObj("v1", "Pod", "default", fmt.Sprintf("p%05d", i), nil))
		}
		if end < n {
			l.SetContinue(strconv.Itoa(end))
		}
		return true, l, nil
	}
}

func TestKubernetesListPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		expireAt int
		want     int
		pages    int
		note     bool
	}{
		{name: "one page", n: 3, want: 3, pages: 1},
		{name: "several pages", n: 1234, want: 1234, pages: 3},
		{name: "exactly the cap", n: kubernetesMaxListItems, want: kubernetesMaxListItems, pages: kubernetesMaxListItems / kubernetesPageSize},
		{name: "over the cap", n: kubernetesMaxListItems + 1, want: kubernetesMaxListItems, pages: kubernetesMaxListItems / kubernetesPageSize, note: true},
		// Two pages, the expired third, then the pager's one full list, bounded by the cap.
		{name: "expired continue lists again in full", n: 1200, expireAt: 1000, want: 1200, pages: 2 + 1 + 1},
		{name: "expired continue over the cap", n: kubernetesMaxListItems + 1, expireAt: 1000, want: kubernetesMaxListItems, pages: 2 + 1 + 1, note: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newKubeFixture(t)
			var calls []metav1.ListOptions
			f.dyn.PrependReactor("list", "pods", kubePagedPods(tt.n, tt.expireAt, &calls))
			res, err := prepareKube(t, `{"api_version":"v1","kind":"Pod","label_selector":"a!=b"}`).Run(context.Background(), f.env)
			require.NoError(t, err)
			names := kubeItemNames(t, res.Outputs[0])
			require.Len(t, names, tt.want)
			assert.Equal(t, "p00000", names[0])
			assert.Equal(t, fmt.Sprintf("p%05d", tt.want-1), names[tt.want-1], "no duplicates after a restart")
			assert.Len(t, calls, tt.pages)
			for i, c := range calls {
				if i > 0 && c.Continue == "" {
					// The full list after an expired token asks for no more than the cap.
					assert.Equal(t, int64(kubernetesMaxListItems), c.Limit)
				} else {
					assert.Equal(t, int64(kubernetesPageSize), c.Limit)
				}
				assert.Equal(t, "a!=b", c.LabelSelector)
			}
			if tt.note {
				require.Len(t, res.Notes, 1)
				assert.Contains(t, res.Notes[0], "stopped at 10000 objects")
			} else {
				assert.Empty(t, res.Notes)
			}
		})
	}
}

// A server that ignores the limit still gives CEL at most kubernetesMaxListItems objects, and
// the cut is noted.
func TestKubernetesListServerIgnoresLimit(t *testing.T) {
	t.Parallel()
	f := newKubeFixture(t)
	var calls []metav1.ListOptions
	all := kubePagedPods(kubernetesMaxListItems+5, 0, &calls)
	f.dyn.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		la := a.(clienttesting.ListActionImpl)
		la.ListOptions.Limit = 0
		return all(la)
	})
	res, err := prepareKube(t, `{"api_version":"v1","kind":"Pod"}`).Run(context.Background(), f.env)
	require.NoError(t, err)
	assert.Len(t, kubeItemNames(t, res.Outputs[0]), kubernetesMaxListItems)
	assert.Len(t, calls, 1)
	require.Len(t, res.Notes, 1)
	assert.Contains(t, res.Notes[0], "stopped at 10000 objects")
}

func TestKubernetesOutputLimit(t *testing.T) {
	t.Parallel()
	f := newKubeFixture(t, kubeObj("v1", "Pod", "default", "web", map[string]any{"big": strings.Repeat("x", 60)}))
	f.env.OutputLimit = 50
	res, err := prepareKube(t, `{"api_version":"v1","kind":"Pod","name":"web"}`).Run(context.Background(), f.env)
	require.NoError(t, err)
	out := res.Outputs[0]
	assert.Len(t, out.Stdout, 50)
	assert.True(t, out.Truncated)
	assert.Equal(t, strings.Repeat("x", 60), out.Object.(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)["big"], "CEL still sees the whole object")
}

// The session's clients are built once per run, from a copy of the caller's config.
func TestKubernetesClientsFromConfig(t *testing.T) {
	t.Parallel()
	cfg := &rest.Config{Host: "https://127.0.0.1:6443", QPS: 5}
	env := &Env{Config: cfg, Session: &Session{}, Cluster: ClusterSettings{QPS: 50, Burst: 100}}
	a, err := kubeClientsFor(env)
	require.NoError(t, err)
	b, err := kubeClientsFor(env)
	require.NoError(t, err)
	assert.Same(t, a, b)
	assert.Equal(t, float32(5), cfg.QPS, "the caller's config is not mutated")
	assert.Zero(t, cfg.Timeout)
}

func BenchmarkKubernetesList(b *testing.B) {
	objs := make([]runtime.Object, 0, 1000)
	for i := range 1000 {
		objs = append(objs, kubeObj("v1", "Pod", "default", fmt.Sprintf("p%d", i), map[string]any{"app": "x"}))
	}
	f := newKubeFixture(b, objs...)
	p, err := kubernetesCommand{}.Prepare(json.RawMessage(`{"api_version":"v1","kind":"Pod","label_selector":"app=x"}`), SpecContext{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Run(context.Background(), f.env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKubernetesListHTTP lists 1000 pods (about 1 KiB each, in two pages) from an HTTP
// server through the real dynamic client: decoding, paging, stripping and encoding stdout.
func BenchmarkKubernetesListHTTP(b *testing.B) {
	const n = 1000
	pages := map[string][]byte{}
	for start := 0; start < n; start += kubernetesPageSize {
		l := map[string]any{"apiVersion": "v1", "kind": "PodList", "metadata": map[string]any{"resourceVersion": "1"}}
		items := []any{}
		for i := start; i < min(start+kubernetesPageSize, n); i++ {
			p := kubeObj("v1", "Pod", "default", fmt.Sprintf("pod-%04d", i), map[string]any{"app": "x"}).Object
			p["spec"] = map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox", "command": []any{"sleep", "3600"}}}, "nodeName": "node-1"}
			p["status"] = map[string]any{"phase": "Running", "podIP": "10.244.0.7", "conditions": []any{map[string]any{"type": "Ready", "status": "True"}}, "note": strings.Repeat("x", 600)}
			items = append(items, p)
		}
		l["items"] = items
		if start+kubernetesPageSize < n {
			l["metadata"].(map[string]any)["continue"] = strconv.Itoa(start + kubernetesPageSize)
		}
		pages[strconv.Itoa(start)], _ = json.Marshal(l)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("continue")
		if c == "" {
			c = "0"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[c])
	}))
	defer srv.Close()
	f := newKubeFixture(b)
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1}) // no client-side rate limit
	if err != nil {
		b.Fatal(err)
	}
	f.env.Session = &Session{}
	_, _ = f.env.Session.Get(kubeClientsKey{}, func() (any, error) {
		return &kubeClients{dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(f.disc))}, nil
	})
	p := prepareKube(b, `{"api_version":"v1","kind":"Pod","label_selector":"app=x"}`)
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Run(context.Background(), f.env)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(res.Outputs[0].Object.(map[string]any)["items"].([]any)); got != n {
			b.Fatalf("%d items", got)
		}
	}
}

// secretObj is a Secret as the API serves it, with a last-applied copy of itself.
func secretObj(ns, name string, data map[string]string) *unstructured.Unstructured {
	obj := kubeObj("v1", "Secret", ns, name, nil)
	d := map[string]any{}
	for k, v := range data {
		d[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	obj.Object["data"] = d
	obj.Object["type"] = "Opaque"
	applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name}, "stringData": data})
	obj.Object["metadata"].(map[string]any)["annotations"] = map[string]any{
		lastAppliedAnnotation: string(applied), "team": "db"}
	return obj
}

// TestKubernetesSecretsRedacted reads Secrets (get and list) and searches everything the
// command hands on for the values and their base64 forms: only `output` with the opt-in may
// hold them.
func TestKubernetesSecretsRedacted(t *testing.T) {
	t.Parallel()
	const password, token = "hunter2-value", "tok-value-42"
	secrets := []runtime.Object{
		secretObj("db", "creds", map[string]string{"password": password, "empty": ""}),
		secretObj("db", "api", map[string]string{"token": token}),
		kubeObj("v1", "Pod", "db", "web", nil),
	}
	forbiddenText := []string{password, token,
		base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(token))}
	tests := []struct {
		name   string
		data   string
		optIn  bool
		values map[string]string // name/key -> wanted length in the redacted shape
	}{
		{name: "get", data: `{"api_version":"v1","kind":"Secret","namespace":"db","name":"creds"}`},
		{name: "list", data: `{"api_version":"v1","kind":"Secret","namespace":"db"}`},
		{name: "list in all namespaces", data: `{"api_version":"v1","kind":"Secret","all_namespaces":true}`},
		{name: "get with the opt-in", data: `{"api_version":"v1","kind":"Secret","namespace":"db","name":"creds","include_secret_values":true}`, optIn: true},
		{name: "list with the opt-in", data: `{"api_version":"v1","kind":"Secret","namespace":"db","include_secret_values":true}`, optIn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newKubeFixture(t, secrets...)
			res, err := prepareKube(t, tt.data).Run(context.Background(), f.env)
			require.NoError(t, err)
			out := res.Outputs[0]
			assert.Equal(t, tt.optIn, res.SecretValues)
			for _, v := range forbiddenText {
				assert.NotContains(t, out.Stdout, v, "stdout holds no value")
			}
			assert.Contains(t, out.Stdout, `"password":{"length":13,"redacted":true}`)
			assert.Contains(t, out.Stdout, `"empty":{"length":0,"redacted":true}`)
			assert.Contains(t, out.Stdout, `"team":"db"`, "other annotations stay")
			objJSON, err := json.Marshal(out.Object)
			require.NoError(t, err)
			if tt.optIn {
				assert.Contains(t, string(objJSON), base64.StdEncoding.EncodeToString([]byte(password)), "output holds the values with the opt-in")
				return
			}
			for _, v := range forbiddenText {
				assert.NotContains(t, string(objJSON), v, "output holds no value")
			}
			var creds map[string]any
			if m := out.Object.(map[string]any); m["items"] != nil {
				for _, it := range m["items"].([]any) {
					if it.(map[string]any)["metadata"].(map[string]any)["name"] == "creds" {
						creds = it.(map[string]any)
					}
				}
			} else {
				creds = m
			}
			require.NotNil(t, creds)
			assert.Equal(t, map[string]any{"redacted": true, "length": int64(13)}, creds["data"].(map[string]any)["password"])
			applied := creds["metadata"].(map[string]any)["annotations"].(map[string]any)[lastAppliedAnnotation].(string)
			assert.Contains(t, applied, `"password":{"length":13,"redacted":true}`)
		})
	}
	t.Run("the fixture holds the values", func(t *testing.T) {
		// Without redaction the searches above would find them: the test can fail.
		t.Parallel()
		b, err := json.Marshal(secrets[0])
		require.NoError(t, err)
		assert.Contains(t, string(b), password)
		assert.Contains(t, string(b), base64.StdEncoding.EncodeToString([]byte(password)))
	})
}

func TestRedactSecretShapes(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"kind":       "Secret",
		"data":       map[string]any{"ok": "aGk=", "notbase64": "***", "notstring": int64(3)},
		"stringData": map[string]any{"plain": "abc"},
		"metadata":   map[string]any{"annotations": map[string]any{lastAppliedAnnotation: "not json"}},
	}
	got := redactSecrets(in)
	assert.Equal(t, map[string]any{
		"kind": "Secret",
		"data": map[string]any{
			"ok":        map[string]any{"redacted": true, "length": int64(2)},
			"notbase64": map[string]any{"redacted": true},
			"notstring": map[string]any{"redacted": true},
		},
		"stringData": map[string]any{"plain": map[string]any{"redacted": true, "length": int64(3)}},
		"metadata":   map[string]any{"annotations": map[string]any{lastAppliedAnnotation: "<redacted: holds a copy of the Secret>"}},
	}, got)
	assert.Equal(t, "aGk=", in["data"].(map[string]any)["ok"], "the input is not changed")
	assert.Equal(t, map[string]any{"redacted": true}, redactSecrets(map[string]any{"data": "x"}).(map[string]any)["data"])
}
