package requirement_test

import (
	"context"
	"encoding/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// TestBuiltinCommands loads the valid specs with the library's own commands, whose Prepare
// checks each command's data: the schema and the implementations must agree.
func TestBuiltinCommands(t *testing.T) {
	forEachSpec(t, "testdata/valid/*.yaml", func(t *testing.T, f string) {
		spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, f)
		require.NoError(t, err)
		for _, r := range spec.Requirements {
			// Data with K_expr keys is prepared when the requirement runs.
			require.True(t, r.Command.Prepared != nil || len(r.Command.Expressions()) > 0, r.ID)
		}
	})
}

// TestBuiltinPrepareErrors checks that a built-in command's own data errors (those the
// schema cannot express) come back as problems located at the command's data.
func TestBuiltinPrepareErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		path string
	}{
		{
			name: "legacy cmd string that is not a JSON array",
			src:  "custom_requirements:\n- id: a\n  command:\n    id: exec\n    data:\n      cmd: 'test -e /x'\n  results: [{status: success}]\n",
			path: "custom_requirements[0].command.data",
		},
		{
			name: "pod_name naming no Pod document",
			src:  "custom_requirements:\n- id: a\n  command:\n    id: scheduler\n    data:\n      kubernetes: {pod_name: nowhere}\n  results: [{status: success}]\n",
			path: "custom_requirements[0].command.data",
		},
		{
			name: "dry_run manifests with an object that has no name",
			src:  "custom_requirements:\n- id: a\n  command:\n    id: dry_run\n    data:\n      manifests: |\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {generateName: x-}\n  results: [{status: success}]\n",
			path: "custom_requirements[0].command.data.manifests",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(tc.src)})
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			require.Contains(t, ps[0].Location.Path, tc.path, "%v", err)
			require.Greater(t, ps[0].Location.Line, 4, "%v", err)
		})
	}
}

// TestPrepareJoinedErrors checks that a command reporting several problems at once
// (a field.ErrorList) gets one located problem for each.
func TestPrepareJoinedErrors(t *testing.T) {
	reg := &command.Registry{}
	require.NoError(t, reg.Register("two", command.Func(func(json.RawMessage, command.SpecContext) (command.Prepared, error) {
		data := field.NewPath("data")
		return nil, field.ErrorList{
			field.Required(data.Child("a"), "give a value"),
			field.Invalid(data.Child("b"), field.OmitValueType{}, "must be a number"),
		}.ToAggregate()
	})))
	src := "custom_requirements:\n- id: r\n  command:\n    id: two\n    data:\n      a: ''\n      b: x\n  results: [{status: success}]\n"
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(src)})
	ps := problems(t, err)
	require.Len(t, ps, 2, "%v", err)
	assert.Equal(t, "custom_requirements[0].command.data.a", ps[0].Location.Path)
	assert.Equal(t, 6, ps[0].Location.Line)
	assert.Equal(t, "command two: required: give a value", ps[0].Message)
	assert.Equal(t, "custom_requirements[0].command.data.b", ps[1].Location.Path)
	assert.Equal(t, 7, ps[1].Location.Line)
}

// TestRollingStepProblems checks where a rolling step's bad fields are reported when a spec
// loads: the schema's messages for types and ranges, the scheduler's own for what the schema
// cannot say; each at its field, with its line and column.
func TestRollingStepProblems(t *testing.T) {
	const spec = "custom_requirements:\n- id: step\n  command:\n    id: scheduler\n    data:\n      kubernetes:\n" +
		"        pod: {spec: {containers: [{name: c, image: busybox}]}}\n        SCOPE\n        FIELD\n  results: [{status: success}]\n"
	tests := []struct {
		name, scope, field string
		path, message      string
		line, column       int
	}{
		{"zero", "global: true", "max_parallel_nodes: 0", "max_parallel_nodes",
			"must be at least 1 (how many nodes run at once); leave it out to run every node at once", 9, 29},
		{"a string", "global: true", `max_parallel_nodes: "3"`, "max_parallel_nodes", `must be an integer, not the string "3"`, 9, 29},
		{"stop_on_failure neither bool nor warn", "global: true", "stop_on_failure: always", "stop_on_failure",
			`must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false`, 9, 26},
		{"not a fan-out", "container: c", "max_parallel_nodes: 2", "max_parallel_nodes",
			"command scheduler: only applies to a fan-out: set global: true or node_selector too", 9, 29},
		{"stop without a fan-out", "container: c", "stop_on_failure: warn", "stop_on_failure",
			"command scheduler: only applies to a fan-out: set global: true or node_selector too", 9, 26},
		{"order label", "node_selector: {role: storage}", "node_order_label: 'a b'", "node_order_label",
			`command scheduler: "a b" is not a valid label key: name part must consist of alphanumeric characters`, 9, 27},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.NewReplacer("SCOPE", tc.scope, "FIELD", tc.field).Replace(spec)
			_, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(src)})
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			assert.Equal(t, "custom_requirements[0].command.data.kubernetes."+tc.path, ps[0].Location.Path)
			assert.Contains(t, ps[0].Message, tc.message)
			assert.Equal(t, tc.line, ps[0].Location.Line)
			assert.Equal(t, tc.column, ps[0].Location.Column)
		})
	}
	ok := strings.NewReplacer("SCOPE", "node_selector: {role: storage}",
		"FIELD", "max_parallel_nodes: 1\n        stop_on_failure: warn\n        node_order_label: example.com/rollout-order").Replace(spec)
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(ok)})
	require.NoError(t, err)
}
