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
