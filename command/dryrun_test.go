package command

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	stsYAML = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: rok-tools
spec:
  serviceName: rok-tools-v2
`
	cmYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: rok-config
  namespace: rok
data:
  a: b
`
	gadgetYAML = `apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g1
  namespace: ignored-for-cluster-scoped
`
)

// dryRunData builds the command's data from an inline stream.
func dryRunJSON(t testing.TB, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	require.NoError(t, err)
	return string(b)
}

func TestDryRunPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    map[string]any
		objects []string // kind/namespace/name of the parsed objects
		wantErr []string
	}{
		{name: "a stream", data: map[string]any{"manifests": "---\n# comment only\n---\n" + stsYAML + "---\n" + cmYAML + "\n---\n"},
			objects: []string{"StatefulSet//rok-tools", "ConfigMap/rok/rok-config"}},
		{name: "JSON documents", data: map[string]any{"manifests": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`},
			objects: []string{"ConfigMap//x"}},
		{name: "a List is flattened", data: map[string]any{"manifests": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n"},
			objects: []string{"ConfigMap//a", "Secret//b"}},
		{name: "files", data: map[string]any{"files": []string{"/etc/rok/v2.yaml"}}},
		{name: "neither", data: map[string]any{}, wantErr: []string{"data: Required value: manifests (the objects to dry-run, a YAML stream) or files"}},
		{name: "both", data: map[string]any{"manifests": cmYAML, "files": []string{"a.yaml"}}, wantErr: []string{"data.files: Invalid value: cannot be combined with data.manifests"}},
		{name: "empty stream", data: map[string]any{"manifests": "---\n# nothing\n"}, wantErr: []string{"data.manifests:", "the manifests hold no object"}},
		{name: "bad YAML", data: map[string]any{"manifests": "apiVersion: v1\nkind: [\n"}, wantErr: []string{"data.manifests:", "document 1:"}},
		{name: "duplicate key", data: map[string]any{"manifests": cmYAML + "---\napiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n"},
			wantErr: []string{"document 2:", `"kind" already set`}},
		{name: "no kind", data: map[string]any{"manifests": "apiVersion: v1\nmetadata: {name: x}\n"}, wantErr: []string{"document 1: not a Kubernetes object", "'Kind' is missing"}},
		{name: "no name", data: map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n"},
			wantErr: []string{"document 1: ConfigMap has no metadata.name (server-side apply needs one"}},
		{name: "a name YAML reads as a boolean", data: map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n"},
			wantErr: []string{"document 1: metadata.name must be a string, not true (quote it)"}},
		{name: "bad apiVersion", data: map[string]any{"manifests": "apiVersion: a/b/c\nkind: ConfigMap\nmetadata: {name: x}\n"}, wantErr: []string{"document 1:", "a/b/c"}},
		{name: "every bad document is reported", data: map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\n" + cmYAML + "---\napiVersion: v1\nkind: Secret\nmetadata: {}\n"},
			wantErr: []string{"document 1: ConfigMap has no metadata.name", "document 3: Secret has no metadata.name"}},
		{name: "too many objects", data: map[string]any{"manifests": strings.Repeat(cmYAML+"---\n", dryRunMaxObjects+1)}, wantErr: []string{"more than 1000 objects"}},
		{name: "empty file name", data: map[string]any{"files": []string{"a.yaml", " "}}, wantErr: []string{"data.files[1]: Invalid value: must not be empty"}},
		{name: "long field manager", data: map[string]any{"manifests": cmYAML, "field_manager": strings.Repeat("m", 129)}, wantErr: []string{"data.field_manager:", "at most 128 characters"}},
		{name: "bad namespace", data: map[string]any{"manifests": cmYAML, "namespace": "Rok"}, wantErr: []string{`data.namespace: Invalid value: "Rok" is not a namespace name`}},
		{name: "unknown field", data: map[string]any{"manifests": cmYAML, "dry_run": "All"}, wantErr: []string{"data.dry_run: Invalid value: unknown field (known fields: field_manager, files, force_conflicts, manifests, namespace"}},
		{name: "wrong type", data: map[string]any{"files": "a.yaml"}, wantErr: []string{"data.files: Invalid value: must be an array of strings, not string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, ok := prepareOrFail(t, dryRunCommand{}, dryRunJSON(t, tt.data), tt.wantErr)
			if !ok {
				return
			}
			dp := p.(*dryRunPrepared)
			var got []string
			for _, o := range dp.objects {
				got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
			}
			assert.Equal(t, tt.objects, got)
			assert.Equal(t, "preflight", dp.fieldManager)
			assert.True(t, dp.force)
			assert.True(t, dp.UsesCluster())
		})
	}
}

// dryRunObjects returns output.objects by kind/name.
func dryRunObjects(t *testing.T, out Output) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, o := range out.Object.(map[string]any)["objects"].([]any) {
		m := o.(map[string]any)
		got[m["kind"].(string)+"/"+m["name"].(string)] = m
	}
	return got
}

// TestDryRunOutcomes: each answer of the API server to a dry-run apply becomes data in the
// server's own words; an API server that cannot answer is an error.
func TestDryRunOutcomes(t *testing.T) {
	t.Parallel()
	immutable := `StatefulSet.apps "rok-tools" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden`
	tests := []struct {
		name     string
		data     map[string]any
		apply    func(resource, ns, name string, obj map[string]any) (int, *metav1.Status)
		code     int
		objects  map[string][3]any // kind/name: allowed, reason, message (substring)
		stdout   []string          // lines, in order
		wantErr  string
		applies  int
		truncate bool
	}{
		{name: "all accepted", data: map[string]any{"manifests": stsYAML + "---\n" + cmYAML + "---\n" + gadgetYAML, "namespace": "rok-system"},
			code: 0,
			objects: map[string][3]any{
				"StatefulSet/rok-tools": {true, "", ""}, "ConfigMap/rok-config": {true, "", ""}, "Gadget/g1": {true, "", ""},
			},
			stdout:  []string{"accepted: StatefulSet rok-system/rok-tools (apps/v1)", "accepted: ConfigMap rok/rok-config (v1)", "accepted: Gadget g1 (example.com/v1)"},
			applies: 3},
		{name: "an immutable field", data: map[string]any{"manifests": cmYAML + "---\n" + stsYAML},
			apply: func(resource, _, _ string, _ map[string]any) (int, *metav1.Status) {
				if resource == "statefulsets" {
					return 422, failure(422, metav1.StatusReasonInvalid, immutable)
				}
				return 200, nil
			},
			code:    1,
			objects: map[string][3]any{"StatefulSet/rok-tools": {false, "Invalid", immutable}, "ConfigMap/rok-config": {true, "", ""}},
			stdout:  []string{"refused: StatefulSet default/rok-tools (apps/v1): Invalid: " + immutable, "accepted: ConfigMap rok/rok-config (v1)"},
			applies: 2},
		{name: "admission denied", data: map[string]any{"manifests": cmYAML},
			apply: func(string, string, string, map[string]any) (int, *metav1.Status) {
				return 403, failure(403, metav1.StatusReasonForbidden, `admission webhook "policy.example.com" denied the request: configmaps must carry a team label`)
			},
			code: 1, objects: map[string][3]any{"ConfigMap/rok-config": {false, "Forbidden", "must carry a team label"}}, applies: 1},
		{name: "quota", data: map[string]any{"manifests": cmYAML},
			apply: func(string, string, string, map[string]any) (int, *metav1.Status) {
				return 403, failure(403, metav1.StatusReasonForbidden, `configmaps "rok-config" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=10, limited: count/configmaps=10`)
			},
			code: 1, objects: map[string][3]any{"ConfigMap/rok-config": {false, "Forbidden", "exceeded quota"}}, applies: 1},
		{name: "a field owned by another manager, without force", data: map[string]any{"manifests": cmYAML, "force_conflicts": false, "field_manager": "rok-installer"},
			apply: func(string, string, string, map[string]any) (int, *metav1.Status) {
				return 409, failure(409, metav1.StatusReasonConflict, `Apply failed with 1 conflict: conflict with "helm" using v1: .data.a`)
			},
			code: 1, objects: map[string][3]any{"ConfigMap/rok-config": {false, "Conflict", `conflict with "helm"`}}, applies: 1},
		{name: "a kind the cluster does not serve", data: map[string]any{"manifests": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n" + cmYAML},
			code: 1,
			objects: map[string][3]any{
				"Widget/w":             {false, "NotFound", `no kind "Widget" in group/version "example.com/v1"`},
				"ConfigMap/rok-config": {true, "", ""},
			},
			applies: 1},
		{name: "a long message is cut and marked", data: map[string]any{"manifests": cmYAML},
			apply: func(string, string, string, map[string]any) (int, *metav1.Status) {
				return 422, failure(422, metav1.StatusReasonInvalid, strings.Repeat("é", 3000))
			},
			code: 1, objects: map[string][3]any{"ConfigMap/rok-config": {false, "Invalid", "éé…"}}, applies: 1, truncate: true},
		{name: "a server error is no answer", data: map[string]any{"manifests": cmYAML + "---\n" + stsYAML},
			apply: func(resource, _, _ string, _ map[string]any) (int, *metav1.Status) {
				if resource == "statefulsets" {
					return 500, failure(500, metav1.StatusReasonInternalError, `Internal error occurred: failed calling webhook "sts.example.com": connection refused`)
				}
				return 200, nil
			},
			wantErr: `the API server could not dry-run 1 of 2 objects: StatefulSet default/rok-tools (apps/v1): Internal error occurred: failed calling webhook`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestAPIServer(t)
			s.apply = tt.apply
			p, err := dryRunCommand{}.Prepare(json.RawMessage(dryRunJSON(t, tt.data)), SpecContext{})
			require.NoError(t, err)
			res, err := p.Run(context.Background(), s.env(0))
			if tt.wantErr != "" {
				require.Error(t, err, "an error, never a pass")
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			out := res.Outputs[0]
			assert.Equal(t, tt.code, out.StatusCode)
			assert.Equal(t, tt.truncate, out.Truncated)
			got := dryRunObjects(t, out)
			assert.Len(t, got, len(tt.objects))
			for k, want := range tt.objects {
				require.Contains(t, got, k)
				assert.Equal(t, want[0], got[k]["allowed"], k)
				assert.Equal(t, want[1], got[k]["reason"], k)
				assert.Contains(t, got[k]["message"], want[2].(string), k)
			}
			if tt.stdout != nil {
				assert.Equal(t, strings.Join(tt.stdout, "\n")+"\n", out.Stdout)
			}
			require.Len(t, s.applies, tt.applies)
			fm := "preflight"
			if m, ok := tt.data["field_manager"].(string); ok {
				fm = m
			}
			for _, a := range s.applies {
				assert.Contains(t, a.query, "dryRun=All", "nothing is changed in the cluster")
				assert.Contains(t, a.query, "fieldManager="+fm)
				if tt.data["force_conflicts"] == false {
					assert.NotContains(t, a.query, "force=true")
				} else {
					assert.Contains(t, a.query, "force=true")
				}
				assert.Equal(t, "application/apply-patch+yaml", a.contentType)
			}
		})
	}
}

// TestDryRunNamespaces: namespaced objects go to their own namespace, else data.namespace,
// else the run's; cluster-scoped objects to none.
func TestDryRunNamespaces(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	p, err := dryRunCommand{}.Prepare(json.RawMessage(dryRunJSON(t, map[string]any{"manifests": stsYAML + "---\n" + cmYAML + "---\n" + gadgetYAML})), SpecContext{})
	require.NoError(t, err)
	env := s.env(0)
	env.Namespace = "run-ns"
	_, err = p.Run(context.Background(), env)
	require.NoError(t, err)
	var got []string
	for _, a := range s.applies {
		got = append(got, a.resource+" "+a.ns+"/"+a.name)
	}
	assert.ElementsMatch(t, []string{"statefulsets run-ns/rok-tools", "configmaps rok/rok-config", "gadgets /g1"}, got)
}

// TestDryRunPermissions: create and patch on every resource and namespace are checked before
// any apply; a denial stops the command with every denial listed.
func TestDryRunPermissions(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	s.deny["patch apps/statefulsets default"] = true
	s.deny["create /configmaps rok"] = true
	p, err := dryRunCommand{}.Prepare(json.RawMessage(dryRunJSON(t, map[string]any{"manifests": stsYAML + "---\n" + cmYAML + "---\n" + gadgetYAML})), SpecContext{})
	require.NoError(t, err)
	_, err = p.Run(context.Background(), s.env(0))
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, err, `insufficient permissions in namespace "default": cannot patch statefulsets.apps (no RBAC policy matched); cannot create configmaps in namespace "rok" (no RBAC policy matched); nothing was created`)
	assert.Empty(t, s.applies, "nothing is applied when a permission is missing")
	assert.ElementsMatch(t, []string{
		"create apps/statefulsets default", "patch apps/statefulsets default",
		"create /configmaps rok", "patch /configmaps rok",
		"create example.com/gadgets ", "patch example.com/gadgets ",
	}, s.ssars)
}

func TestDryRunFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		return path
	}
	one, two := write("one.yaml", stsYAML), write("two.yaml", cmYAML+"---\n"+gadgetYAML)
	big := write("big.yaml", strings.Repeat("#", dryRunMaxFileBytes+1))
	bad := write("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
	tests := []struct {
		name    string
		files   []string
		objects int
		wantErr string
	}{
		{name: "two files", files: []string{one, two}, objects: 3},
		{name: "missing", files: []string{one, filepath.Join(dir, "nope.yaml")}, wantErr: "nope.yaml: no such file"},
		{name: "too large", files: []string{big}, wantErr: "big.yaml is larger than 4 MiB, the limit of a manifest file"},
		{name: "a directory", files: []string{dir}, wantErr: "is not a regular file"},
		{name: "a bad object", files: []string{bad}, wantErr: "bad.yaml: document 1: ConfigMap has no metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestAPIServer(t)
			p, err := dryRunCommand{}.Prepare(json.RawMessage(dryRunJSON(t, map[string]any{"files": tt.files})), SpecContext{})
			require.NoError(t, err, "files are read when the command runs")
			res, err := p.Run(context.Background(), s.env(0))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, s.applies)
				return
			}
			require.NoError(t, err)
			assert.Len(t, dryRunObjects(t, res.Outputs[0]), tt.objects)
		})
	}
}

// TestDryRunStdoutLimit: stdout is cut at the output limit and marked; output.objects keeps
// every object.
func TestDryRunStdoutLimit(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%02d}\n---\n", i)
	}
	p, err := dryRunCommand{}.Prepare(json.RawMessage(dryRunJSON(t, map[string]any{"manifests": b.String()})), SpecContext{})
	require.NoError(t, err)
	res, err := p.Run(context.Background(), s.env(256))
	require.NoError(t, err)
	out := res.Outputs[0]
	assert.Len(t, out.Stdout, 256)
	assert.True(t, out.Truncated)
	assert.Len(t, dryRunObjects(t, out), 50)
}
