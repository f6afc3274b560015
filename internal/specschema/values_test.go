package specschema_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/specschema"
	"github.com/preflightkit/preflight/schema"
)

func TestValueKeysAndClassicFields(t *testing.T) {
	req := func(cmd string) string {
		return "custom_requirements:\n- id: a\n  command: " + cmd + "\n  results: [{status: success}]\n"
	}
	tests := []struct {
		name string
		doc  string
		want []specschema.Violation
	}{
		{name: "K_expr instead of a required K", doc: req(`{id: tcp_dial, data: {addr_expr: 'vars.db + ":5432"'}}`)},
		{name: "nested K_expr", doc: req(`{id: scheduler, data: {kubernetes: {pod_name_expr: vars.pod, global_expr: 'vars.all == "yes"'}}}`)},
		{name: "K_expr in an inline pod and a map", doc: req(`{id: scheduler, data: {kubernetes: {pod: {spec: {containers: [{name: c, image_expr: vars.image}]}}, node_selector: {zone_expr: vars.zone}}}}`)},
		{name: "both", doc: req(`{id: tcp_dial, data: {addr: "db:1", addr_expr: vars.db}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data/addr_expr", At: specschema.AtKey, Keyword: "not",
				Message: "give addr or addr_expr, not both: addr_expr is CEL whose value is used for addr"}}},
		{name: "neither", doc: req(`{id: disk_space_total, data: {}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data", Keyword: "anyOf", Message: `missing required field "dir" (or dir_expr)`}}},
		{name: "an expression is a string", doc: req(`{id: tcp_dial, data: {addr_expr: 5}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data/addr_expr", Keyword: "type", Types: []string{"string"}, Message: "must be a string, not the number 5"}}},
		{name: "an unknown K_expr names the K_expr keys", doc: req(`{id: tcp_dial, data: {adr_expr: vars.db}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data", Keyword: "anyOf", Message: `missing required field "addr" (or addr_expr)`},
			{Pointer: "/custom_requirements/0/command/data/adr_expr", At: specschema.AtKey, Keyword: "additionalProperties", Message: `unknown field "adr_expr"; did you mean "addr_expr"?`}}},
		{name: "opt-in is never an expression", doc: req(`{id: kubernetes, data: {api_version: v1, kind: Secret, include_secret_values_expr: 'true'}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data/include_secret_values_expr", Keyword: "not",
				Message: "include_secret_values cannot be given as an expression: write it out (the spec must show it as it is)"}}},
		{name: "all_namespaces with a namespace", doc: req(`{id: kubernetes, data: {api_version: v1, kind: Pod, all_namespaces: true, namespace: x}}`), want: []specschema.Violation{
			{Pointer: "/custom_requirements/0/command/data", Keyword: "then", Message: "all_namespaces lists every namespace: give neither name nor namespace"}}},
		{name: "classic values", doc: "replicated_api_version: 2.9.2\nhost_requirements: {memory: 8GB}\n" +
			"custom_requirements:\n- id: a\n  when: true\n  tags: []\n  command: {id: raw, data: {cmd: '[\"true\"]', cluster: false, tags: [], conflicts: []}}\n" +
			"  results: [{status: success, condition: {status_code: \"0\", bool_expr: false}}]\n"},
		{name: "status_code must hold an integer", doc: req(`{id: raw, data: {cmd: ["true"]}}`) + "- id: b\n  command: {id: raw, data: {cmd: [\"true\"]}}\n  results: [{status: success, condition: {status_code: \"ok\"}}]\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/1/results/0/condition/status_code", Keyword: "pattern", Message: `must be an integer, such as 0 or "0"`}}},
		{name: "message and message_expr", doc: "custom_requirements:\n- id: a\n  command: {id: raw, data: {cmd: [\"true\"]}}\n  results: [{status: success, message: x, message_expr: '\"y\"'}]\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/0/results/0", Keyword: "not", Message: "give message or message_expr, not both"}}},
		{name: "a misspelt classic field is suggested, never listed", doc: req(`{id: raw, data: {cmd: ["true"]}}`) + "hosts_requirements: {}\nrequirements: []\n",
			want: []specschema.Violation{
				{Pointer: "/hosts_requirements", At: specschema.AtKey, Keyword: "additionalProperties", Message: `unknown field "hosts_requirements"; did you mean "host_requirements"?`},
				{Pointer: "/requirements", At: specschema.AtKey, Keyword: "additionalProperties", Message: `unknown field "requirements"; expected one of custom_requirements`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := specschema.ValidateRequirements(decode(t, tc.doc))
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
	// An editor validates every document: a classic file's other Kubernetes objects too.
	for _, doc := range []string{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"} {
		vs, err := specschema.ValidateDocument(decode(t, doc))
		require.NoError(t, err)
		assert.Empty(t, vs, doc)
	}
}

// jsonKeys lists the JSON keys of struct t (promoted fields of embedded structs included) with
// their expr tags.
func jsonKeys(t reflect.Type) map[string]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonKeys(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Tag.Get("expr")
	}
	return out
}

// The schema knows the data of every built-in command as the command declares it: each key,
// and its K_expr (a CEL string, or refused for a key tagged expr:"-").
func TestSchemaMatchesTheCommandsData(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal(schema.JSON(), &doc))
	defs := doc["$defs"].(map[string]any)
	defOf := map[string]string{
		"exec": "execData", "tcp_dial": "tcpDialData", "port_available": "portAvailableData",
		"disk_space_available": "diskSpaceData", "disk_space_total": "diskSpaceData", "http": "httpData",
		"scheduler": "schedulerData", "kubernetes": "kubernetesData", "raw": "rawData",
		"logs": "logsData", "dry_run": "dryRunData", "cluster_info": "clusterInfoData",
	}
	reg := command.Builtins()
	require.ElementsMatch(t, reg.IDs(), keys(defOf), "a schema definition for every built-in")
	check := func(t *testing.T, def map[string]any, typ reflect.Type) {
		props := def["properties"].(map[string]any)
		want := jsonKeys(typ)
		var got []string
		for k := range props {
			if !strings.HasSuffix(k, "_expr") {
				got = append(got, k)
			}
		}
		assert.ElementsMatch(t, keys(want), got)
		for k, tag := range want {
			e, ok := props[k+"_expr"].(map[string]any)
			require.True(t, ok, "%s_expr", k)
			if tag == "-" {
				assert.Contains(t, e, "not", "%s_expr is refused", k)
				continue
			}
			assert.Equal(t, "#/$defs/valueExpression", e["$ref"], k+"_expr")
			deps, _ := def["dependentSchemas"].(map[string]any)
			assert.Contains(t, deps, k+"_expr", "%s and %s_expr together are refused", k, k)
		}
	}
	for id, name := range defOf {
		t.Run(id, func(t *testing.T) {
			c, _ := reg.Lookup(id)
			typ := c.(command.DataDescriber).DataType()
			def := defs[name].(map[string]any)
			check(t, def, typ)
			if id == "scheduler" { // its keys are under data.kubernetes
				f, ok := typ.FieldByName("Kubernetes")
				require.True(t, ok)
				check(t, def["properties"].(map[string]any)["kubernetes"].(map[string]any), f.Type)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
