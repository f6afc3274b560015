//go:build e2e

package values_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/cli"
	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{})
	os.Exit(m.Run())
}

// hangGuard bounds a test that would otherwise hang on a broken cluster; it is not a timing
// assertion.
const hangGuard = 5 * time.Minute

func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := cluster.Client()
	require.NoError(t, err)
	return cs
}

// preflight runs the CLI in-process and returns its exit code, stdout and stderr.
func preflight(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Run(ctx, args, nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func decision(t *testing.T, stdout, stderr string) *runner.Decision {
	t.Helper()
	var d runner.Decision
	require.NoError(t, json.Unmarshal([]byte(stdout), &d), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	return &d
}

func byID(d *runner.Decision) map[string]runner.RequirementResult {
	out := map[string]runner.RequirementResult{}
	for _, r := range d.Requirements {
		out[r.ID] = r
	}
	return out
}

// noPodsLeft asserts that the run left no pod in ns (these specs create none).
func noPodsLeft(t *testing.T, ns string) {
	t.Helper()
	pods, err := client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
}

// The vendor's spec is parameterized with --set: its tcp_dial reaches the address behind the
// cluster's own kubernetes Service (its EndpointSlice: a ClusterIP is not reachable from the
// test host), its disk_space_available measures the directory named, its kubernetes command
// reads the Service in the namespace named, and its messages show what was measured.
func TestSetReachesARealServiceAndDirectory(t *testing.T) {
	ctx := context.Background()
	cs := client(t)
	slices, err := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kubernetes"})
	require.NoError(t, err)
	require.NotEmpty(t, slices.Items)
	es := slices.Items[0]
	require.NotEmpty(t, es.Endpoints)
	require.NotEmpty(t, es.Ports)
	host, port := es.Endpoints[0].Addresses[0], int(*es.Ports[0].Port)
	dir := t.TempDir()
	ns := cluster.Namespace(t, nil)

	spec := writeSpec(t, `custom_requirements:
- id: api-reachable
  message: The database answers
  command:
    id: tcp_dial
    data:
      addr_expr: 'vars.db_host + ":" + string(vars.db_port)'
  results:
  - status: success
    condition: {status_code: 0}
    message_expr: '"reached " + stdout'
  - status: error
    message_expr: '"cannot reach " + vars.db_host + ":" + string(vars.db_port) + " (status " + string(status_code) + ")"'
- id: data-dir
  command:
    id: disk_space_available
    data:
      dir_expr: vars.data_dir
  results:
  - status: error
    condition: {expr: 'int(stdout) < 1024'}
    message_expr: '"only " + stdout + " bytes free on " + vars.data_dir'
  - status: success
    message_expr: 'string(int(stdout) / (1024 * 1024)) + " MiB free on " + vars.data_dir'
- id: service-exists
  command:
    id: kubernetes
    data:
      api_version: v1
      kind: Service
      name: kubernetes
      namespace_expr: vars.service_namespace
  results:
  - status: success
    condition: {status_code: 0}
    message_expr: '"service " + output.metadata.namespace + "/" + output.metadata.name + " at " + output.spec.clusterIP'
  - status: error
- id: ns-of-the-run
  command:
    id: kubernetes
    data:
      api_version: v1
      kind: Namespace
      name_expr: app.namespace
  results:
  - status: success
    condition: {status_code: 0}
    message_expr: '"namespace " + output.metadata.name'
  - status: error
`)
	run := func(dbPort int) *runner.Decision {
		code, stdout, stderr := preflight(t, "run", spec, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-o", "json", "-q",
			"--set", "db_host="+host, "--set", "db_port="+strconv.Itoa(dbPort),
			"--set", "data_dir="+dir, "--set", "service_namespace=default")
		d := decision(t, stdout, stderr)
		if dbPort == port {
			require.Equal(t, cli.ExitPass, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		return d
	}
	res := byID(run(port))
	assert.Equal(t, "reached "+net.JoinHostPort(host, strconv.Itoa(port)), res["api-reachable"].Message)
	assert.Regexp(t, `^\d+ MiB free on `+dir+`$`, res["data-dir"].Message)
	assert.Regexp(t, `^service default/kubernetes at 10\.`, res["service-exists"].Message)
	assert.Equal(t, "namespace "+ns, res["ns-of-the-run"].Message, "app.namespace is the run's -n")

	// Other values, same spec: it checks where they say (a port nothing listens on).
	res = byID(run(1))
	assert.Equal(t, runner.StatusFail, res["api-reachable"].Status)
	assert.Equal(t, fmt.Sprintf("cannot reach %s:1 (status %d)", host, command.CodeConnectionRefused), res["api-reachable"].Message)
	noPodsLeft(t, ns)
}

// A real Secret's values appear nowhere in what preflight prints or logs: the CLI's JSON and
// text output with debug logs, the library's decision, events and slog output; searched for
// each value and its base64 form. The opt-in hands them to CEL only (its condition decodes
// the password) and is marked on the result.
func TestSecretValuesAreNeverPrinted(t *testing.T) {
	ctx := context.Background()
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	password := "pw-" + token(t) + "-Tr0ub4dor"
	apiToken := "tok-" + token(t)
	label := "preflight-e2e=" + token(t)
	applied, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "db", "namespace": ns}, "stringData": map[string]string{"password": password}})
	require.NoError(t, err)
	k, v, _ := strings.Cut(label, "=")
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: map[string]string{k: v},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied)}},
			StringData: map[string]string{"password": password}},
		{ObjectMeta: metav1.ObjectMeta{Name: "api", Labels: map[string]string{k: v}}, Data: map[string][]byte{"token": []byte(apiToken)}},
	} {
		_, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	spec := `custom_requirements:
- id: get
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db}}
  results:
  - status: success
    condition: {expr: 'output.data.password.redacted && output.data.password.length == ` + strconv.Itoa(len(password)) + `'}
    message_expr: '"password set, " + string(output.data.password.length) + " bytes"'
  - status: error
- id: list
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, label_selector: "` + label + `"}}
  results:
  - status: success
    condition: {expr: 'size(output.items) == 2 && output.items.all(s, s.data.all(k, s.data[k].redacted))'}
  - status: error
- id: list-all-namespaces
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, all_namespaces: true, label_selector: "` + label + `"}}
  results:
  - status: success
    condition: {expr: 'size(output.items) == 2'}
  - status: error
- id: opted-in
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db, include_secret_values: true}}
  results:
  - status: success
    condition: {expr: 'string(base64.decode(output.data.password)) == vars.expected'}
  - status: error
`
	path := writeSpec(t, spec)
	forbidden := []string{password, apiToken,
		base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(apiToken))}
	search := func(what, text string) {
		t.Helper()
		for _, f := range forbidden {
			assert.NotContains(t, text, f, "%s holds a Secret value", what)
		}
	}
	// The expected password reaches CEL through vars (a test of the opt-in's decoding); the
	// searches below skip the echo of the command line, which holds nothing else.
	for _, format := range []string{"json", "text"} {
		code, stdout, stderr := preflight(t, "run", path, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-o", format, "-v",
			"--set", "expected="+password)
		require.Equal(t, cli.ExitPass, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Contains(t, stderr, "level=DEBUG")
		search("the CLI's "+format+" output", stdout)
		search("the CLI's stderr (debug logs) with -o "+format, stderr)
		if format == "json" {
			res := byID(decision(t, stdout, stderr))
			assert.Equal(t, fmt.Sprintf("password set, %d bytes", len(password)), res["get"].Message)
			assert.True(t, res["opted-in"].SecretValues)
			assert.False(t, res["get"].SecretValues)
			assert.Contains(t, res["get"].Stdout, `"redacted":true`)
		} else {
			assert.Contains(t, stdout, "note: its conditions saw the values of Secrets")
		}
	}

	// The library: decision, events and slog output at debug level.
	s, err := requirement.LoadFiles(ctx, requirement.LoadOptions{}, path)
	require.NoError(t, err)
	cfg, err := cluster.RestConfig()
	require.NoError(t, err)
	var logs bytes.Buffer
	var events []string
	r, err := runner.New(runner.Options{Config: cfg, Namespace: ns, Vars: map[string]any{"expected": password},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: func(e runner.Event) {
			b, _ := json.Marshal(e)
			events = append(events, string(b))
		}})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	d, err := r.Run(rctx, s)
	require.NoError(t, err)
	require.Equal(t, runner.GatePass, d.Gate)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	search("the decision", string(b))
	search("the events", strings.Join(events, "\n"))
	require.NotEmpty(t, logs.String(), "the library logged")
	search("the library's logs", logs.String())
	// The searches can fail: the Secret holds what they look for.
	got, err := cs.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	require.NoError(t, err)
	raw, _ := json.Marshal(got)
	assert.Contains(t, string(raw), base64.StdEncoding.EncodeToString([]byte(password)))
	noPodsLeft(t, ns)
}

// all_namespaces lists at the cluster scope: a Role in one namespace does not allow it (the
// run's permission check says so before anything runs, a *command.PermissionError for a
// cluster-wide list), a ClusterRole does.
func TestAllNamespacesNeedsTheClusterScope(t *testing.T) {
	ctx := context.Background()
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	user := "values-e2e-" + token(t)
	label := "preflight-e2e=" + token(t)
	k, v, _ := strings.Cut(label, "=")
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "marker", Labels: map[string]string{k: v}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read"}, Rules: rules}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg, err := cluster.UserConfig(ctx, user, nil)
	require.NoError(t, err)
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(`custom_requirements:
- id: in-the-namespace
  command: {id: kubernetes, data: {api_version: v1, kind: ConfigMap, label_selector: "` + label + `"}}
  results: [{status: success, condition: {expr: 'size(output.items) == 1'}}, {status: error}]
- id: everywhere
  command: {id: kubernetes, data: {api_version: v1, kind: ConfigMap, all_namespaces: true, label_selector: "` + label + `"}}
  results: [{status: success, condition: {expr: 'size(output.items) == 1 && output.items[0].metadata.namespace == app.namespace'}}, {status: error}]
`)})
	require.NoError(t, err)
	run := func() map[string]runner.RequirementResult {
		r, err := runner.New(runner.Options{Config: cfg, Namespace: ns})
		require.NoError(t, err)
		rctx, cancel := context.WithTimeout(ctx, hangGuard)
		defer cancel()
		d, err := r.Run(rctx, s)
		require.NoError(t, err)
		return byID(d)
	}
	// The run's permission check finds the missing cluster-wide list before anything runs:
	// everywhere fails with it, in-the-namespace is not run (docs/embedding.md).
	res := run()
	assert.Equal(t, runner.StatusNotRun, res["in-the-namespace"].Status, res["in-the-namespace"].Message)
	assert.Contains(t, res["in-the-namespace"].Message, "the run's permission check failed for everywhere")
	assert.Equal(t, runner.StatusFail, res["everywhere"].Status)
	assert.Contains(t, res["everywhere"].Error, `cannot list configmaps (cluster-wide)`)
	var pe *command.PermissionError
	require.ErrorAs(t, res["everywhere"].Err, &pe)
	require.Len(t, pe.Denied, 1)
	assert.True(t, pe.Denied[0].Cluster)
	assert.Equal(t, "list configmaps", pe.Denied[0].String())

	name := "preflight-e2e-" + token(t)
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// RBAC's cache takes the new binding in within moments; wait for the authorizer to say so.
	require.Eventually(t, func() bool {
		res := run()
		return res["everywhere"].Status == runner.StatusPass && res["in-the-namespace"].Status == runner.StatusPass
	}, 30*time.Second, 500*time.Millisecond, "a ClusterRole allows the list across namespaces")
	noPodsLeft(t, ns)
}
