package requirement_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
)

func TestSpecCheck(t *testing.T) {
	req := func(id string, deps ...string) *requirement.Requirement {
		return &requirement.Requirement{ID: id, DependsOn: deps}
	}
	tests := []struct {
		name string
		reqs []*requirement.Requirement
		want []string // each line of the error, in order; nil for none
	}{
		{"fine", []*requirement.Requirement{req("a"), req("b", "a")}, nil},
		{"nil and empty id", []*requirement.Requirement{nil, req("")}, []string{"requirement 0 is nil", "requirement 1 has no id"}},
		{"duplicate", []*requirement.Requirement{req("a"), req("a")}, []string{`requirement "a": id used twice (requirements 0 and 1)`}},
		{"unknown and self", []*requirement.Requirement{req("a", "x", "a")}, []string{
			`requirement "a": depends_on names "x", which the spec does not have`,
			`requirement "a": depends_on names itself`}},
		{"cycles, each once, from the first member", []*requirement.Requirement{
			req("x"), req("c", "a"), req("a", "b"), req("b", "c"), req("d", "e"), req("e", "d", "a")}, []string{
			"depends_on has a cycle: c -> a -> b -> c",
			"depends_on has a cycle: d -> e -> d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&requirement.Spec{Requirements: tt.reqs}).Check()
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Equal(t, tt.want, strings.Split(err.Error(), "\n"))
			}
		})
	}
}

func TestSpecNeedsCluster(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want bool
	}{
		{"host only", "custom_requirements:\n- id: a\n  command: {id: exec, data: {cmd: [\"true\"]}}\n  results: [{status: success}]\n", false},
		{"kubernetes command", "custom_requirements:\n- id: a\n  command: {id: kubernetes, data: {api_version: v1, kind: Node}}\n  results: [{status: success}]\n", true},
		{"logs command", "custom_requirements:\n- id: a\n  command: {id: logs, data: {label_selector: app=x}}\n  results: [{status: success}]\n", true},
		{"dry_run command", "custom_requirements:\n- id: a\n  command: {id: dry_run, data: {files: [a.yaml]}}\n  results: [{status: success}]\n", true},
		{"logs command with data from vars", "custom_requirements:\n- id: a\n  command: {id: logs, data: {label_selector_expr: 'vars.selector'}}\n  results: [{status: success}]\n", true},
		{"dry_run command with data from vars", "custom_requirements:\n- id: a\n  command: {id: dry_run, data: {files_expr: '[vars.manifests]'}}\n  results: [{status: success}]\n", true},
		{"http to a URL", "custom_requirements:\n- id: a\n  command: {id: http, data: {url: 'http://app.internal/healthz'}}\n  results: [{status: success}]\n", false},
		{"http to a Service", "custom_requirements:\n- id: a\n  command: {id: http, data: {service: {name: app, port: 8080}, path: /upgradeable}}\n  results: [{status: success}]\n", true},
		{"when reads cluster", "custom_requirements:\n- id: a\n  when: size(cluster.nodes) > 1\n  command: {id: exec, data: {cmd: [\"true\"]}}\n  results: [{status: success}]\n", true},
		{"condition reads cluster", "custom_requirements:\n- id: a\n  command: {id: exec, data: {cmd: [\"true\"]}}\n  results: [{status: success, condition: {expr: 'cluster.version != \"\"'}}]\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(tt.spec)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.NeedsCluster())
		})
	}
}
