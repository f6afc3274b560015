package requirement_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// captureData is the data of the capture command: nested objects and lists, to place values
// at depth.
type captureData struct {
	Name  string `json:"name"`
	Items []struct {
		Host string            `json:"host"`
		Port int               `json:"port"`
		Tags map[string]string `json:"tags,omitempty"`
	} `json:"items"`
	Raw json.RawMessage `json:"raw,omitempty" expr:"int|list(string)"`
}

// captureCommand records the data each Prepare got.
type captureCommand struct {
	mu   *sync.Mutex
	seen *[]string
}

func (c captureCommand) DataType() reflect.Type { return reflect.TypeOf(captureData{}) }

func (c captureCommand) Prepare(data json.RawMessage, _ command.SpecContext) (command.Prepared, error) {
	c.mu.Lock()
	*c.seen = append(*c.seen, string(data))
	c.mu.Unlock()
	var d captureData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{}}}, nil
	}), nil
}

func captureRegistry(t *testing.T) (*command.Registry, *[]string) {
	t.Helper()
	seen := &[]string{}
	reg := command.Builtins()
	require.NoError(t, reg.Register("capture", captureCommand{mu: &sync.Mutex{}, seen: seen}))
	return reg, seen
}

func loadWith(t *testing.T, reg *command.Registry, src string) (*requirement.Spec, error) {
	t.Helper()
	return requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(src)})
}

// Resolve puts each value where its K_expr key was, at any depth, and prepares the command
// on that data; the static data is prepared at load as before.
func TestResolvePlacesValuesAtDepth(t *testing.T) {
	reg, seen := captureRegistry(t)
	spec, err := loadWith(t, reg, `custom_requirements:
- id: r
  command:
    id: capture
    data:
      name: fixed
      items:
      - host_expr: vars.host
        port_expr: int(vars.port) + 1
        tags: {zone_expr: 'app.namespace + "-a"', static: "yes"}
      - {host: other, port: 2}
      raw_expr: '["a", string(vars.port)]'
  results: [{status: success}]
`)
	require.NoError(t, err)
	cmd := spec.Requirements[0].Command
	assert.Nil(t, cmd.Prepared, "prepared when it runs")
	require.Len(t, cmd.Expressions(), 4)
	var sources []string
	for _, e := range cmd.Expressions() {
		sources = append(sources, e.Source())
	}
	assert.ElementsMatch(t, []string{"vars.host", "int(vars.port) + 1", `app.namespace + "-a"`, `["a", string(vars.port)]`}, sources)
	*seen = nil
	p, err := cmd.Resolve(context.Background(), &analyzer.Context{
		Vars: map[string]any{"host": "db", "port": "5432"}, App: analyzer.App{Namespace: "team"}}, command.SpecContext{})
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Len(t, *seen, 1)
	assert.JSONEq(t, `{"name": "fixed", "raw": ["a", "5432"], "items": [
		{"host": "db", "port": 5433, "tags": {"zone": "team-a", "static": "yes"}},
		{"host": "other", "port": 2}]}`, (*seen)[0])

	// The union type of raw: an int is accepted, a map is not.
	spec, err = loadWith(t, reg, "custom_requirements:\n- id: r\n  command: {id: capture, data: {raw_expr: '{\"a\": 1}'}}\n  results: [{status: success}]\n")
	require.Nil(t, spec)
	assert.ErrorContains(t, err, "raw_expr: must evaluate to an integer or an array of strings, got map(string, int)")
}

// A spec whose cluster command has K_expr keys needs a cluster, although it is not prepared
// until it runs; so does one whose value reads cluster.
func TestNeedsClusterWithValues(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"custom_requirements:\n- id: r\n  command: {id: kubernetes, data: {api_version: v1, kind: Pod, namespace_expr: vars.ns}}\n  results: [{status: success}]\n", true},
		{"custom_requirements:\n- id: r\n  command: {id: exec, data: {cmd_expr: '[\"echo\", cluster.version]'}}\n  results: [{status: success}]\n", true},
		{"custom_requirements:\n- id: r\n  command: {id: exec, data: {cmd: [\"true\"]}}\n  results: [{status: success, message_expr: 'cluster.version'}]\n", true},
		{"custom_requirements:\n- id: r\n  command: {id: exec, data: {cmd_expr: '[\"echo\", app.namespace]'}}\n  results: [{status: success}]\n", false},
		{"custom_requirements:\n- id: r\n  command: {id: http, data: {service: {name: app, port_expr: vars.port}, path: /upgradeable}}\n  results: [{status: success}]\n", true},
		{"custom_requirements:\n- id: r\n  command: {id: http, data: {service_expr: '{\"name\": vars.app, \"port\": dyn(80)}'}}\n  results: [{status: success}]\n", true},
		{"custom_requirements:\n- id: r\n  command: {id: http, data: {url_expr: vars.url}}\n  results: [{status: success}]\n", false},
	} {
		spec, err := loadWith(t, command.Builtins(), tc.src)
		require.NoError(t, err)
		assert.Equal(t, tc.want, spec.NeedsCluster(), tc.src)
	}
}

// Conditions of a requirement that reads Secret values compile with base64; the command
// marks it.
func TestSecretValuesScope(t *testing.T) {
	spec, err := loadWith(t, command.Builtins(), `custom_requirements:
- id: r
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db, include_secret_values: true}}
  results:
  - status: success
    condition: {expr: 'base64.decode(output.data.password).size() >= 12'}
    message_expr: '"set, " + string(base64.decode(output.data.password).size()) + " bytes"'
  - status: error
`)
	require.NoError(t, err)
	assert.True(t, spec.Requirements[0].Command.SecretValues)
	out := spec.Requirements[0].Analyze(context.Background(), &analyzer.Context{}, &analyzer.Input{
		Object: map[string]any{"data": map[string]any{"password": "c2VjcmV0LXBhc3N3b3Jk"}}})
	assert.Equal(t, requirement.StatusSuccess, out.Status)
	assert.Equal(t, "set, 15 bytes", out.Message)
}

// A message_expr error keeps the matched status; Outcome.MessageErr says why.
func TestAnalyzeMessageExprError(t *testing.T) {
	spec, err := loadWith(t, command.Builtins(), `custom_requirements:
- id: r
  command: {id: exec, data: {cmd: ["true"]}}
  results:
  - {status: warn, condition: {status_code: 3}, message_expr: 'string(output.count)'}
  - {status: error}
`)
	require.NoError(t, err)
	out := spec.Requirements[0].Analyze(context.Background(), &analyzer.Context{}, &analyzer.Input{StatusCode: 3, Stdout: "not json"})
	assert.Equal(t, requirement.StatusWarn, out.Status)
	assert.Equal(t, 0, out.Matched)
	assert.Empty(t, out.Message)
	require.Error(t, out.MessageErr)
	assert.Contains(t, out.MessageErr.Error(), "results[0].message_expr:")
	assert.NoError(t, out.Err, "the conditions evaluated fine")
}

// A Pod field given as CEL inside an inline pod: typed as the Pod's field at load, prepared by
// the scheduler command with the value at run; a pod_name given as CEL finds the spec's pod
// templates.
func TestResolveSchedulerPod(t *testing.T) {
	spec, err := loadWith(t, command.Builtins(), `custom_requirements:
- id: inline
  command:
    id: scheduler
    data:
      kubernetes:
        pod:
          apiVersion: v1
          kind: Pod
          metadata: {name: checker}
          spec:
            containers:
            - name: c
              image_expr: 'vars.registry + "/busybox"'
              command: [test, -d, /data]
        global_expr: vars.everywhere
  results: [{status: success}]
- id: named
  command: {id: scheduler, data: {kubernetes: {pod_name_expr: vars.pod}}}
  results: [{status: success}]
---
apiVersion: v1
kind: Pod
metadata: {name: license-checker}
spec:
  containers: [{name: c, image: busybox}]
`)
	require.NoError(t, err)
	ac := &analyzer.Context{Vars: map[string]any{"registry": "registry.example", "everywhere": true, "pod": "license-checker"}}
	sc := command.SpecContext{Pods: spec.Pods}
	for _, r := range spec.Requirements {
		p, err := r.Command.Resolve(context.Background(), ac, sc)
		require.NoError(t, err, r.ID)
		assert.True(t, p.(interface{ UsesCluster() bool }).UsesCluster())
	}
	_, err = spec.Requirements[1].Command.Resolve(context.Background(), &analyzer.Context{Vars: map[string]any{"pod": "nope"}}, sc)
	require.ErrorContains(t, err, `data.kubernetes.pod_name (from data.kubernetes.pod_name_expr): no kind: Pod document named "nope"`)
	_, err = spec.Requirements[0].Command.Resolve(context.Background(), &analyzer.Context{Vars: map[string]any{"registry": "r", "everywhere": "yes"}}, sc)
	require.ErrorContains(t, err, "data.kubernetes.global_expr: the value is a string, not a boolean (true or false)")
}
