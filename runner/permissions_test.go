package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// discoveryServer serves the discovery of the core group (pods, nodes, services) and apps
// (deployments), enough for the kubernetes and dry_run commands to map their kinds.
func discoveryServer(t *testing.T) *rest.Config {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v any
		switch r.URL.Path {
		case "/api":
			v = metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}}
		case "/apis":
			gv := metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}
			v = metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}}}
		case "/api/v1":
			v = metav1.APIResourceList{GroupVersion: "v1", APIResources: []metav1.APIResource{
				{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "list"}},
				{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: metav1.Verbs{"get", "list"}},
				{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"get", "list", "create", "patch"}},
			}}
		case "/apis/apps/v1":
			v = metav1.APIResourceList{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
				{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: metav1.Verbs{"get", "list"}},
			}}
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func rule(verbs, group, resource string, names ...string) rbacv1.PolicyRule {
	r := rbacv1.PolicyRule{Verbs: strings.Split(verbs, ","), APIGroups: []string{group}, Resources: []string{resource}}
	if len(names) > 0 {
		r.ResourceNames = names
	}
	return r
}

const ssar = "create selfsubjectaccessreviews"

func TestPermissions(t *testing.T) {
	podRules := func() []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{
			rule("list,watch", "", "events"),
			rule("create,delete,list,watch", "", "pods"),
			rule("get", "", "pods/log"),
		}
	}
	ssarRule := rule("create", "authorization.k8s.io", "selfsubjectaccessreviews")
	req := func(cmd string, extra ...string) string {
		return "- id: r" + string(rune('a'+len(extra))) + "\n  command: " + cmd + "\n" + strings.Join(extra, "") + "  results: [{status: success}]\n"
	}
	tests := []struct {
		name      string
		reqs      []string
		ns        string
		cluster   bool // give a Config (discovery)
		vars      map[string]any
		want      *runner.PermissionRules
		wantError string
	}{
		{name: "host commands need nothing", reqs: []string{req(`{id: exec, data: {cmd: ["true"]}}`), req(`{id: http, data: {url: "http://a"}}`, "")},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{}}},
		{name: "scheduler in the run's namespace", ns: "gate", reqs: []string{req(`{id: scheduler, data: {kubernetes: {pod: {spec: {containers: [{name: c, image: busybox}]}}}}}`)},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{"gate": podRules()}, Cluster: []rbacv1.PolicyRule{ssarRule}}},
		{name: "scheduler fan-out in its own namespace", ns: "gate", reqs: []string{req(`{id: scheduler, data: {kubernetes: {namespace: checks, global: true, pod: {spec: {containers: [{name: c, image: busybox}]}}}}}`)},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{"checks": podRules()},
				Cluster: []rbacv1.PolicyRule{rule("get,list", "", "nodes"), ssarRule}}},
		{name: "logs", reqs: []string{req(`{id: logs, data: {label_selector: app=x, namespace: app}}`)},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{"app": {rule("list", "", "pods"), rule("get", "", "pods/log")}}, Cluster: []rbacv1.PolicyRule{ssarRule}}},
		{name: "http service: the method's verb on NAME:PORT", ns: "gate", reqs: []string{
			req(`{id: http, data: {service: {name: web, port: 80}, path: /x}}`),
			req(`{id: http, data: {service: {name: web, namespace: app, port: http, scheme: https}, method: POST}}`, ""),
		},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{
				"app":  {rule("create", "", "services/proxy", "https:web:http")},
				"gate": {rule("get", "", "services/proxy", "web:80")},
			}, Cluster: []rbacv1.PolicyRule{ssarRule}}},
		{name: "cluster facts list nodes", reqs: []string{req(`{id: exec, data: {cmd: ["true"]}}`, "  when: size(cluster.nodes) > 2\n")},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{}, Cluster: []rbacv1.PolicyRule{rule("list", "", "nodes"), ssarRule}}},
		{name: "cluster_info lists nodes", reqs: []string{req(`{id: cluster_info}`)},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{}, Cluster: []rbacv1.PolicyRule{rule("list", "", "nodes"), ssarRule}}},
		{name: "kubernetes: get by name, list, across namespaces, cluster-scoped", cluster: true, ns: "gate", reqs: []string{
			req(`{id: kubernetes, data: {api_version: apps/v1, kind: Deployment, name: web}}`),
			req(`{id: kubernetes, data: {api_version: v1, kind: Pod, namespace: rook, label_selector: app=mon}}`, ""),
			req(`{id: kubernetes, data: {api_version: v1, kind: Pod, all_namespaces: true}}`, "", ""),
			req(`{id: kubernetes, data: {api_version: v1, kind: Node}}`, "", "", ""),
		},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{
				"gate": {rule("get", "apps", "deployments", "web")},
				"rook": {rule("list", "", "pods")},
			}, Cluster: []rbacv1.PolicyRule{rule("list", "", "nodes"), rule("list", "", "pods"), ssarRule}}},
		{name: "dry_run: create and patch per resource and namespace", cluster: true, ns: "gate", reqs: []string{
			req(`{id: dry_run, data: {manifests: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n"}}`)},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{
				"gate":  {rule("create,patch", "", "configmaps")},
				"other": {rule("create,patch", "", "configmaps")},
			}, Cluster: []rbacv1.PolicyRule{ssarRule}}},
		{name: "kubernetes without a cluster", reqs: []string{req(`{id: kubernetes, data: {api_version: v1, kind: Pod}}`)},
			wantError: `requirement "ra": command kubernetes: resolving kind Pod in v1 through discovery: mapping kind Pod to its resource needs the cluster's discovery, as the run does: give a cluster configuration (runner.Options.Config, --kubeconfig)`},
		{name: "data from vars and app: computed as the run does", ns: "gate", vars: map[string]any{"sel": "app=x", "ns": "app"}, reqs: []string{
			req(`{id: logs, data: {label_selector_expr: vars.sel, namespace_expr: vars.ns}}`),
			req(`{id: http, data: {service_expr: '{"name": "web", "namespace": app.namespace + "-api", "port": "http"}', path: /x}}`, ""),
		},
			want: &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{
				"app":      {rule("list", "", "pods"), rule("get", "", "pods/log")},
				"gate-api": {rule("get", "", "services/proxy", "web:http")},
			}, Cluster: []rbacv1.PolicyRule{ssarRule}}},
		{name: "data from vars not given", reqs: []string{req(`{id: logs, data: {label_selector: a=b, namespace_expr: vars.ns}}`)},
			wantError: `requirement "ra": the command's data could not be computed from the given vars, app and phase (give them as the run does: Options.Vars, AppVersion, Phase; --set, --values, --app-version, --phase): data.namespace_expr: 1:5: no such key: ns`},
		{name: "data from cluster facts: known at run time", reqs: []string{req(`{id: logs, data: {label_selector: a=b, namespace_expr: 'size(cluster.nodes) > 3 ? "big" : "small"'}}`)},
			wantError: `requirement "ra": the command's data comes from K_expr keys that read cluster or results, known only when the requirement runs (size(cluster.nodes) > 3 ? "big" : "small"): give the data itself to derive its permissions`},
		{name: "data from results: known at run time", reqs: []string{req(`{id: exec, data: {cmd: ["true"]}}`), req(`{id: logs, data: {label_selector: a=b, namespace_expr: 'results.ra == "pass" ? "a" : "b"'}}`, "  depends_on: [ra]\n")},
			wantError: `requirement "rb": the command's data comes from K_expr keys that read cluster or results, known only when the requirement runs (results.ra == "pass" ? "a" : "b"): give the data itself to derive its permissions`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "custom_requirements:\n" + strings.Join(tt.reqs, "")
			spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "s.yaml", Reader: strings.NewReader(src)})
			require.NoError(t, err, src)
			opts := runner.Options{Namespace: tt.ns, Vars: tt.vars}
			if tt.cluster {
				opts.Config = discoveryServer(t)
			}
			got, err := runner.Permissions(context.Background(), spec, opts)
			if tt.wantError != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantError, err.Error())
				assert.Equal(t, strings.Contains(tt.wantError, "K_expr"), errors.Is(err, runner.ErrRuntimeData))
				assert.Equal(t, strings.Contains(tt.wantError, "could not be computed"), errors.Is(err, runner.ErrUnresolvedData))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			for _, rules := range append([][]rbacv1.PolicyRule{got.Cluster}, mapValues(got.Namespaces)...) {
				for _, r := range rules {
					for _, f := range [][]string{r.Verbs, r.APIGroups, r.Resources, r.ResourceNames} {
						assert.NotContains(t, f, "*", "no wildcard")
					}
				}
			}
		})
	}
}

func mapValues[V any](m map[string]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
