package schema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// generated is kubernetes.defs.json, decoded.
type generated struct {
	Version string                    `json:"x-kubernetes-api-version"`
	Defs    map[string]map[string]any `json:"$defs"`
}

func loadGenerated(t *testing.T) generated {
	t.Helper()
	var g generated
	require.NoError(t, json.Unmarshal(kubeDefs, &g))
	return g
}

// moduleVersion returns the version go.mod requires of module path.
func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open("../go.mod")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == path {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// TestKubernetesDefsMatchGoMod fails when go.mod moves to another k8s.io/api and the Pod
// schema was not regenerated.
func TestKubernetesDefsMatchGoMod(t *testing.T) {
	want := moduleVersion(t, "k8s.io/api")
	assert.Equal(t, want, loadGenerated(t).Version,
		"kubernetes.defs.json was generated from another k8s.io/api than go.mod's: run go generate ./schema")
}

// TestKubernetesDefsMatchTheGoTypes walks the Go types a corev1.Pod reaches, as the library
// decodes them, and checks that each struct has a closed definition whose properties are its
// JSON fields, and that each data variant offers the same fields and their _expr keys: a
// hand edit or a stale file fails here.
func TestKubernetesDefsMatchTheGoTypes(t *testing.T) {
	g := loadGenerated(t)
	type named interface{ OpenAPIModelName() string }
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		n, ok := reflect.New(typ).Elem().Interface().(named)
		require.True(t, ok, "%s has no OpenAPI model name", typ)
		name := n.OpenAPIModelName()
		def, ok := g.Defs[name]
		require.True(t, ok, "no definition of %s (%s)", name, typ)
		if _, custom := def["properties"]; !custom {
			return // marshalled as a scalar: Time, Quantity, IntOrString
		}
		fields := jsonFields(typ)
		props := keys(def["properties"])
		assert.Equal(t, fields, props, "%s: properties", name)
		assert.Equal(t, false, def["additionalProperties"], "%s: a struct is closed", name)
		data, ok := g.Defs["data."+name]
		if assert.True(t, ok, "no data variant of %s", name) {
			var want []string
			for _, f := range fields {
				want = append(want, f, f+"_expr")
			}
			sort.Strings(want)
			assert.Equal(t, want, keys(data["properties"]), "data.%s: properties", name)
			assert.Equal(t, false, data["additionalProperties"], "data.%s: closed", name)
		}
		for _, f := range fieldTypes(typ) {
			walk(f)
		}
	}
	walk(reflect.TypeFor[corev1.Pod]())
	assert.Greater(t, len(seen), 100, "a Pod reaches over a hundred types")
	// Nothing but what the Pod reaches (and the data variants) is generated.
	reached := 0
	for name := range g.Defs {
		if !strings.HasPrefix(name, "data.") {
			reached++
		}
	}
	assert.LessOrEqual(t, reached, len(seen))
}

// jsonFields returns the JSON names of a struct's fields, inlined embedded structs included.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// fieldTypes returns the types of a struct's JSON fields, inlined embedded structs' included.
func fieldTypes(typ reflect.Type) []reflect.Type {
	var out []reflect.Type
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && (name == "" || strings.Contains(opts, "inline")):
			out = append(out, fieldTypes(f.Type)...)
		default:
			out = append(out, f.Type)
		}
	}
	return out
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSplice(t *testing.T) {
	var doc struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(JSON(), &doc), "the spliced schema is JSON")
	assert.Contains(t, doc.Defs, "requirement", "the hand-written definitions are kept")
	assert.Contains(t, doc.Defs, "io.k8s.api.core.v1.Container", "the generated ones are added")
	assert.Contains(t, doc.Defs, "data.io.k8s.api.core.v1.Container")
	assert.True(t, bytes.HasPrefix(JSON(), specSource[:200]), "the hand-written text comes first, as written")

	for _, bad := range []string{`[]`, `{"a": 1}`, `{"$defs": []}`} {
		_, err := defsEnd([]byte(bad))
		assert.Error(t, err, bad)
	}
	assert.Panics(t, func() { mustSplice([]byte(`{}`), kubeDefs) })
}

func TestWithCommands(t *testing.T) {
	b, err := WithCommands("vendor_probe", "exec", "")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	id, err := commandID(doc)
	require.NoError(t, err)
	enum := id["enum"].([]any)
	assert.Contains(t, enum, "vendor_probe")
	assert.Contains(t, enum, "scheduler")
	n := 0
	for _, e := range enum {
		if e == "exec" {
			n++
		}
	}
	assert.Equal(t, 1, n, "a listed id is not repeated")
	assert.NotContains(t, enum, "")
	_, err = commandID(map[string]any{"$defs": map[string]any{}})
	assert.Error(t, err)
}
