package runner

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

// loadSpec loads a spec with the built-in commands.
func loadSpec(t *testing.T, src string) *requirement.Spec {
	t.Helper()
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(src)})
	require.NoError(t, err)
	return spec
}

func runSpec(t *testing.T, opts Options, spec *requirement.Spec) *Decision {
	t.Helper()
	r, err := New(opts)
	require.NoError(t, err)
	d, err := r.Run(context.Background(), spec)
	require.NoError(t, err)
	return d
}

func resultsByID(d *Decision) map[string]RequirementResult {
	out := map[string]RequirementResult{}
	for _, r := range d.Requirements {
		out[r.ID] = r
	}
	return out
}

// A spec parameterized by vars reaches the address and the directory they name, and its
// messages show what was measured.
func TestValuesInCommandData(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	dir := t.TempDir()
	spec := loadSpec(t, `
custom_requirements:
- id: db
  command: {id: tcp_dial, data: {addr_expr: 'vars.db_host + ":" + vars.db_port'}}
  results:
  - {status: success, condition: {status_code: 0}, message_expr: '"reached " + stdout'}
  - {status: error, message_expr: '"cannot reach " + vars.db_host + ": " + stderr'}
- id: disk
  command: {id: disk_space_available, data: {dir_expr: 'vars.data_dir'}}
  results:
  - status: success
    condition: {expr: 'int(stdout) > 0'}
    message_expr: '"free on " + vars.data_dir + ": " + stdout + " bytes"'
  - {status: error}
- id: argv
  command:
    id: exec
    data:
      cmd_expr: '["sh", "-c", "echo $NS $TIER; test -d " + string(vars.data_dir)]'
      env: {NS_expr: app.namespace, TIER: fixed}
  results:
  - {status: success, condition: {status_code: 0}, message_expr: 'stdout.trim()'}
  - {status: error}
`)
	d := runSpec(t, Options{Namespace: "team-a", Vars: map[string]any{"db_host": host, "db_port": port, "data_dir": dir}}, spec)
	res := resultsByID(d)
	assert.Equal(t, GatePass, d.Gate, "%+v", d.Requirements)
	assert.Equal(t, "reached "+ln.Addr().String(), res["db"].Message)
	assert.Regexp(t, `^free on `+dir+`: \d+ bytes$`, res["disk"].Message)
	assert.Equal(t, "team-a fixed", res["argv"].Message)

	// The same spec with other values checks somewhere else: nothing was fixed at load.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	require.NoError(t, closed.Close())
	d = runSpec(t, Options{Vars: map[string]any{"db_host": host, "db_port": closedPort, "data_dir": dir + "/missing"}}, spec)
	res = resultsByID(d)
	assert.Equal(t, StatusFail, res["db"].Status)
	assert.Contains(t, res["db"].Message, "cannot reach "+host+": ")
	assert.Equal(t, StatusFail, res["argv"].Status, "test -d of a missing directory")
}

// A value that fails, or does not fit its key, or that the command refuses, fails the
// requirement with an error naming the key, never quoting the value; it never passes.
func TestValueErrorsFailClosed(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t, `
custom_requirements:
- id: dial
  command: {id: tcp_dial, data: {addr_expr: 'vars.addr'}}
  results: [{status: success}]
`)
	tests := []struct {
		name string
		vars map[string]any
		want []string
	}{
		{name: "wrong type", vars: map[string]any{"addr": int64(5432)}, want: []string{"data.addr_expr: the value is an integer, not a string"}},
		{name: "missing var", vars: map[string]any{}, want: []string{"data.addr_expr:", "no such key: addr"}},
		{name: "refused by the command", vars: map[string]any{"addr": "s3cret-no-port"}, want: []string{
			"command tcp_dial refused the data computed from its _expr keys", "data.addr (from data.addr_expr):"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := runSpec(t, Options{Vars: tt.vars}, spec)
			r := d.Requirements[0]
			assert.Equal(t, StatusFail, r.Status)
			assert.Equal(t, GateNeedsAck, d.Gate)
			for _, w := range tt.want {
				assert.Contains(t, r.Error, w)
			}
			assert.Nil(t, r.StatusCode, "the command did not run")
		})
	}
	t.Run("the budget bounds the values", func(t *testing.T) {
		t.Parallel()
		d := runSpec(t, Options{Vars: map[string]any{"addr": "127.0.0.1:1"}, CostBudget: 1}, spec)
		assert.Equal(t, StatusFail, d.Requirements[0].Status)
		assert.True(t, errors.Is(d.Requirements[0].Err, analyzer.ErrBudgetExhausted), "%v", d.Requirements[0].Err)
	})
}

// A message_expr that cannot be evaluated keeps the status and says why in a note.
func TestMessageExprErrorKeepsTheStatus(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t, `
custom_requirements:
- id: ok
  message: Disk checked
  command: {id: exec, data: {cmd: ["true"]}}
  results:
  - {status: success, condition: {status_code: 0}, message_expr: '"value " + vars.missing'}
- id: bad
  message: Disk checked
  command: {id: exec, data: {cmd: ["false"]}}
  results:
  - {status: success, condition: {status_code: 0}}
  - {status: error, message_expr: 'output.nope'}
`)
	var logs bytes.Buffer
	d := runSpec(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, spec)
	res := resultsByID(d)
	assert.Equal(t, StatusPass, res["ok"].Status, "an error in the message never changes the status")
	assert.Equal(t, "Disk checked", res["ok"].Message)
	require.Len(t, res["ok"].Notes, 1)
	assert.Contains(t, res["ok"].Notes[0], "message not shown: results[0].message_expr: ")
	assert.Contains(t, res["ok"].Notes[0], "no such key: missing")
	assert.Equal(t, StatusFail, res["bad"].Status, "nor turns a failure into a pass")
	assert.Equal(t, "", res["bad"].ConditionError)
}

// app.namespace is the run's namespace in when, K_expr values and conditions.
func TestAppNamespace(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t, `
custom_requirements:
- id: ns
  when: app.namespace == "team-a"
  command: {id: exec, data: {cmd_expr: '["echo", app.namespace]'}}
  results:
  - {status: success, condition: {expr: 'stdout.trim() == app.namespace'}}
  - {status: error}
`)
	assert.Equal(t, StatusPass, runSpec(t, Options{Namespace: "team-a"}, spec).Requirements[0].Status)
	assert.Equal(t, StatusSkipped, runSpec(t, Options{}, spec).Requirements[0].Status, "the default namespace is default")
}
