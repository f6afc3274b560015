package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSecretsAPI serves discovery and the Secrets of namespace db, the way an API server
// does, and returns a kubeconfig that points at it.
func fakeSecretsAPI(t *testing.T, secrets map[string]map[string]string) string {
	t.Helper()
	secret := func(name string, data map[string]string) map[string]any {
		d := map[string]any{}
		for k, v := range data {
			d[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": name, "namespace": "db"}, "stringData": data})
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": d,
			"metadata": map[string]any{"name": name, "namespace": "db", "resourceVersion": "7",
				"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": string(applied)}}}
	}
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/api":
			reply(w, 200, map[string]any{"kind": "APIVersions", "versions": []string{"v1"},
				"serverAddressByClientCIDRs": []any{map[string]any{"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}}})
		case p == "/apis":
			reply(w, 200, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{}})
		case p == "/api/v1":
			reply(w, 200, map[string]any{"kind": "APIResourceList", "groupVersion": "v1", "resources": []any{
				map[string]any{"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret", "verbs": []string{"get", "list"}}}})
		case p == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" && r.Method == http.MethodPost:
			// The run's permission check, before anything runs: everything is allowed.
			reply(w, 201, map[string]any{"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "status": map[string]any{"allowed": true}})
		case p == "/api/v1/namespaces/db/secrets":
			items := []any{}
			for name, data := range secrets {
				items = append(items, secret(name, data))
			}
			reply(w, 200, map[string]any{"apiVersion": "v1", "kind": "SecretList", "metadata": map[string]any{"resourceVersion": "7"}, "items": items})
		case strings.HasPrefix(p, "/api/v1/namespaces/db/secrets/"):
			name := strings.TrimPrefix(p, "/api/v1/namespaces/db/secrets/")
			if data, ok := secrets[name]; ok {
				reply(w, 200, secret(name, data))
				return
			}
			fallthrough
		default:
			reply(w, 404, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
				"message": fmt.Sprintf("%s not found", p)})
		}
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: fake, user: u, namespace: db}}]
current-context: c
`, srv.URL)), 0o600))
	return kubeconfig
}

// TestSecretValuesNeverPrinted reads a Secret and lists Secrets through the CLI, in text and
// JSON, with the library's debug logs on: neither the values nor their base64 forms appear,
// with or without the opt-in (which only hands them to CEL, as its passing condition shows).
func TestSecretValuesNeverPrinted(t *testing.T) {
	const password, token = "Tr0ub4dor-and-3", "ghp_example_token_value"
	kubeconfig := fakeSecretsAPI(t, map[string]map[string]string{
		"db": {"password": password}, "api": {"token": token},
	})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(`custom_requirements:
- id: db-secret
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db}}
  results:
  - status: success
    condition: {expr: 'output.data.password.redacted && output.data.password.length >= 12'}
    message_expr: '"password of " + string(output.data.password.length) + " bytes"'
  - status: error
- id: all-secrets
  command: {id: kubernetes, data: {api_version: v1, kind: Secret}}
  results:
  - status: success
    condition: {expr: 'output.items.all(s, s.data.all(k, s.data[k].redacted))'}
  - status: error
- id: opted-in
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db, include_secret_values: true}}
  results:
  - status: success
    condition: {expr: 'string(base64.decode(output.data.password)).startsWith("Tr0ub")'}
  - status: error
`), 0o644))
	forbidden := []string{password, token,
		base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(token)),
		base64.RawStdEncoding.EncodeToString([]byte(password))}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			inv := run(t, context.Background(), "", "run", spec, "--kubeconfig", kubeconfig, "-o", format, "-v")
			require.Equal(t, ExitPass, inv.code, "stdout:\n%s\nstderr:\n%s", inv.stdout, inv.stderr)
			assert.Contains(t, inv.stderr, "level=DEBUG", "the library's logs are on")
			for _, v := range forbidden {
				assert.NotContains(t, inv.stdout, v)
				assert.NotContains(t, inv.stderr, v)
			}
			if format == "json" {
				d := decodeDecision(t, inv.stdout)
				byID := map[string]int{}
				for i, r := range d.Requirements {
					byID[r.ID] = i
				}
				assert.Equal(t, "password of 15 bytes", d.Requirements[byID["db-secret"]].Message)
				assert.Contains(t, d.Requirements[byID["db-secret"]].Stdout, `"password":{"length":15,"redacted":true}`)
				assert.False(t, d.Requirements[byID["db-secret"]].SecretValues)
				assert.True(t, d.Requirements[byID["opted-in"]].SecretValues, "the opt-in is marked")
				assert.Contains(t, inv.stdout, `"secret_values": true`)
				return
			}
			assert.Contains(t, inv.stdout, "note: its conditions saw the values of Secrets (include_secret_values)")
		})
	}
}
