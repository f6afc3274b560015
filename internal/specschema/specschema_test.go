package specschema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/internal/specschema"
	"github.com/preflightkit/preflight/schema"
)

func TestSchemaCompiles(t *testing.T) {
	require.NoError(t, specschema.Check())
	var doc map[string]any
	require.NoError(t, json.Unmarshal(schema.JSON(), &doc))
	require.Equal(t, "https://preflightkit.github.io/preflight/spec.schema.json", doc["$id"])
	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
	require.NotEmpty(t, doc["title"])
}

func TestJSONIsACopy(t *testing.T) {
	a := schema.JSON()
	a[0] = 'x'
	require.Equal(t, byte('{'), schema.JSON()[0])
}

// decode converts one YAML document into a JSON value, as an editor sees it.
func decode(t *testing.T, doc string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v))
	return v
}

// TestDesignExamplesValidate checks that every document of the examples DESIGN.md gives
// (copied into testdata), and of the example specs, validates as yaml-language-server would
// check them.
func TestDesignExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("testdata/design-*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// The example specs too: what the loader accepts, an editor must accept.
	examples, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	files = append(files, examples...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			for i, doc := range strings.Split(string(data), "\n---\n") {
				vs, err := specschema.ValidateDocument(decode(t, doc))
				require.NoError(t, err)
				require.Empty(t, vs, "document %d", i)
			}
		})
	}
}

func TestViolations(t *testing.T) {
	const base = "custom_requirements:\n- id: a\n  command: {id: exec, data: {cmd: [ls]}}\n  results: [{status: success}]\n"
	tests := []struct {
		name string
		doc  string
		want []specschema.Violation
	}{
		{
			name: "valid",
			doc:  base,
		},
		{
			name: "unknown field, case-sensitive",
			doc:  base + "  When: x\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/0/When", At: specschema.AtKey, Keyword: "additionalProperties",
				Message: `unknown field "When"; did you mean "when"? (field names are case-sensitive)`}},
		},
		{
			name: "typo in command data",
			doc:  "custom_requirements:\n- id: a\n  command: {id: exec, data: {cmd: [ls], envv: {}}}\n  results: [{status: success}]\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/0/command/data/envv", At: specschema.AtKey, Keyword: "additionalProperties",
				Message: `unknown field "envv"; did you mean "env"?`}},
		},
		{
			name: "missing required fields",
			doc:  "custom_requirements:\n- id: a\n  command: {data: {}}\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/command/id", At: specschema.AtParent, Keyword: "required", Message: `missing required field "id"`},
				{Pointer: "/custom_requirements/0/results", At: specschema.AtParent, Keyword: "required", Message: `missing required field "results"`},
			},
		},
		{
			name: "wrong types",
			doc:  base + "  strict: \"yes\"\n  retry: {interval: 5, timeout: 1m}\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/retry/interval", Keyword: "type", Types: []string{"string"}, Message: "must be a string, not the number 5"},
				{Pointer: "/custom_requirements/0/strict", Keyword: "type", Types: []string{"boolean"}, Message: `must be true or false, not the string "yes"`},
			},
		},
		{
			name: "timeout zero",
			doc:  "custom_requirements:\n- id: a\n  command: {id: x, timeout: 0}\n  results: [{status: success}]\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/0/command/timeout", Keyword: "not", Message: "must not be 0; use -1 for no timeout"}},
		},
		{
			name: "empty results and bad status",
			doc:  "custom_requirements:\n- id: a\n  command: {id: x}\n  results: []\n- id: b\n  command: {id: x}\n  results: [{status: sucess}]\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/results", Keyword: "minItems", Message: "must list at least one result"},
				{Pointer: "/custom_requirements/1/results/0/status", Keyword: "enum", Message: `must be one of success, warn, error, not the string "sucess"; did you mean "success"?`},
			},
		},
		{
			name: "exclusive fields",
			doc: "custom_requirements:\n- id: a\n  command: {id: exec, data: {cmd: [ls], shell: ls}}\n" +
				"  results: [{status: success, condition: {expr: 'true', bool_expr: 'true'}}]\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/command/data", Keyword: "oneOf", Message: "set exactly one of cmd and shell (or cmd_expr, shell_expr)"},
				{Pointer: "/custom_requirements/0/results/0/condition", Keyword: "not", Message: "set only one of expr and bool_expr (they are synonyms)"},
			},
		},
		{
			name: "duplicate depends_on and bad id",
			doc:  base + "  depends_on: [b, b]\n- id: \"-x\"\n  command: {id: x}\n  results: [{status: warn}]\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/depends_on/1", Keyword: "uniqueItems", Message: `the string "b" is listed twice (items 0 and 1)`},
				{Pointer: "/custom_requirements/1/id", Keyword: "pattern", Message: "must hold only letters, digits, '-', '_' and '.', and start and end with a letter or digit (it is used in pod labels)"},
			},
		},
		{
			name: "port range and data of custom commands",
			doc: "custom_requirements:\n- id: a\n  command: {id: port_available, data: {port: 0}}\n  results: [{status: success}]\n" +
				"- id: b\n  command: {id: my_check, data: {anything: [1]}}\n  results: [{status: success}]\n",
			want: []specschema.Violation{{Pointer: "/custom_requirements/0/command/data/port", Keyword: "minimum", Message: "must be at least 1, not the number 0"}},
		},
		{
			name: "http service target: its fields, its path, url or service",
			doc: "custom_requirements:\n- id: a\n  command: {id: http, data: {service: {name: web, prot: 80}, path: upgradeable}}\n  results: [{status: success}]\n" +
				"- id: b\n  command: {id: http, data: {url: http://a, service: {name: web, port: 70000}}}\n  results: [{status: success}]\n" +
				"- id: c\n  command: {id: http, data: {service: {name: web, port: http, scheme: ftp}, path: /x, path_expr: vars.p}}\n  results: [{status: success}]\n",
			want: []specschema.Violation{
				{Pointer: "/custom_requirements/0/command/data/path", Keyword: "pattern", Message: "must be a path starting with /"},
				{Pointer: "/custom_requirements/0/command/data/service", Keyword: "anyOf", Message: `missing required field "port" (or port_expr)`},
				{Pointer: "/custom_requirements/0/command/data/service/prot", At: specschema.AtKey, Keyword: "additionalProperties", Message: `unknown field "prot"; did you mean "port"?`},
				{Pointer: "/custom_requirements/1/command/data", Keyword: "not", Message: "give url or service, not both: url is requested from this host, service through the API server's service proxy"},
				{Pointer: "/custom_requirements/1/command/data/service/port", Keyword: "maximum", Message: "must be at most 65535, not the number 70000"},
				{Pointer: "/custom_requirements/2/command/data/path_expr", At: specschema.AtKey, Keyword: "not", Message: "give path or path_expr, not both: path_expr is CEL whose value is used for path"},
				{Pointer: "/custom_requirements/2/command/data/service/scheme", Keyword: "enum", Message: `must be one of http, https, not the string "ftp"`},
			},
		},
		{
			name: "not a requirements document",
			doc:  "requirements: []\n",
			want: []specschema.Violation{
				{Pointer: "", At: specschema.AtValue, Keyword: "anyOf", Message: `missing required field "custom_requirements"`},
				{Pointer: "/requirements", At: specschema.AtKey, Keyword: "additionalProperties", Message: `unknown field "requirements"; expected one of custom_requirements`},
			},
		},
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
}

func TestInvalidGoValue(t *testing.T) {
	_, err := specschema.ValidateRequirements(map[string]any{"custom_requirements": struct{}{}})
	require.Error(t, err)
}

func TestPointers(t *testing.T) {
	p := specschema.JoinPointer("a/b", "c~d", "0")
	require.Equal(t, "/a~1b/c~0d/0", p)
	require.Equal(t, []string{"a/b", "c~d", "0"}, specschema.SplitPointer(p))
	require.Nil(t, specschema.SplitPointer(""))
}

func TestSuggest(t *testing.T) {
	known := []string{"id", "timeout", "data"}
	require.Equal(t, "timeout", specschema.Suggest("timout", known))
	require.Equal(t, "timeout", specschema.Suggest("tiemout", known))
	require.Equal(t, "id", specschema.Suggest("ID", known))
	require.Equal(t, "", specschema.Suggest("zzz", known))
	require.Equal(t, `unknown field "zzz"; expected one of id, timeout, data`, specschema.UnknownField("zzz", known))
}
