package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/schema"
)

// editorSchema compiles `preflight schema`'s output with a JSON Schema validator of its own,
// as an editor does, apart from the loader's.
func editorSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	const url = "file:///preflight.schema.json"
	require.NoError(t, c.AddResource(url, bytes.NewReader(schema.JSON())))
	s, err := c.Compile(url)
	require.NoError(t, err)
	return s
}

// documents decodes each YAML document of a spec into JSON values.
func documents(t *testing.T, text []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var j any
		require.NoError(t, d.Decode(&j))
		out = append(out, j)
	}
}

// TestEditorSchemaAndLoaderAgree validates every example, document by document, with a JSON
// Schema validator over `preflight schema`'s output, and loads it: both accept.
func TestEditorSchemaAndLoaderAgree(t *testing.T) {
	s := editorSchema(t)
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			text, err := os.ReadFile(f)
			require.NoError(t, err)
			docs := documents(t, text)
			require.NotEmpty(t, docs)
			for i, d := range docs {
				assert.NoError(t, s.Validate(d), "document %d", i+1)
			}
			_, err = requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, f)
			assert.NoError(t, err)
		})
	}
}

// podDocumentSpec is a requirement and the start of its pod template, up to the first
// container's image: a case adds the container's other fields.
const podDocumentSpec = `custom_requirements:
- id: etc
  command: {id: scheduler, data: {kubernetes: {pod_name: checker}}}
  results: [{status: success}]
---
apiVersion: v1
kind: Pod
metadata: {name: checker}
spec:
  containers:
  - name: c
    image: busybox
`

// TestEditorSchemaAndLoaderRejectPodTypos: a misspelt Pod field, in a kind: Pod document or
// in a scheduler command's inline pod, is flagged by the editor's validator and by the loader,
// at the same field.
func TestEditorSchemaAndLoaderRejectPodTypos(t *testing.T) {
	s := editorSchema(t)
	for _, tc := range []struct {
		name, spec, pointer, path string
	}{
		{
			name: "pod document",
			spec: podDocumentSpec + `    volumeMount: [{name: etc, mountPath: /host/etc}]
  volumes: [{name: etc, hostPath: {path: /etc}}]
`,
			pointer: "/spec/containers/0/volumeMount",
			path:    "spec.containers[0].volumeMount",
		},
		{
			name: "inline pod",
			spec: `custom_requirements:
- id: etc
  command:
    id: scheduler
    data:
      kubernetes:
        pod:
          metadata: {name: checker}
          spec:
            containers:
            - name: c
              image: busybox
              volumeMount: [{name: etc, mountPath: /host/etc}]
            volumes: [{name: etc, hostPath: {path: /etc}}]
  results: [{status: success}]
`,
			pointer: "/custom_requirements/0/command/data/kubernetes/pod/spec/containers/0/volumeMount",
			path:    "custom_requirements[0].command.data.kubernetes.pod.spec.containers[0].volumeMount",
		},
		{
			name: "int-or-string probe port given a list",
			spec: podDocumentSpec + `    readinessProbe: {tcpSocket: {port: [80]}}
    resources: {limits: {memory: [1Gi]}}
`,
			pointer: "/spec/containers/0/readinessProbe/tcpSocket/port",
			path:    "spec.containers[0].readinessProbe.tcpSocket.port",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var flagged []string
			for _, d := range documents(t, []byte(tc.spec)) {
				var ve *jsonschema.ValidationError
				if err := s.Validate(d); errors.As(err, &ve) {
					flagged = append(flagged, leaves(ve)...)
				}
			}
			// An unknown field is reported at its object, naming it.
			obj, field := tc.pointer[:strings.LastIndexByte(tc.pointer, '/')], tc.pointer[strings.LastIndexByte(tc.pointer, '/')+1:]
			assert.True(t, slices.ContainsFunc(flagged, func(f string) bool {
				return f == tc.pointer || strings.HasPrefix(f, tc.pointer+": ") ||
					strings.HasPrefix(f, obj+": ") && strings.Contains(f, "'"+field+"'")
			}), "the editor's validator flags %s: %q", tc.pointer, flagged)
			_, err := requirement.Load(context.Background(), requirement.LoadOptions{},
				requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(tc.spec)})
			var le *requirement.Error
			require.ErrorAs(t, err, &le, "the loader refuses it")
			var paths []string
			for _, p := range le.Problems {
				paths = append(paths, p.Location.Path)
			}
			assert.Contains(t, paths, tc.path, "%v", err)
		})
	}
}

// leaves returns the instance locations and messages of the innermost causes of a
// validation error.
func leaves(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		return []string{ve.InstanceLocation + ": " + ve.Message}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// TestSchemaListsTheBuiltinCommands: the command ids an editor offers are the library's.
func TestSchemaListsTheBuiltinCommands(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal(schema.JSON(), &doc))
	for _, k := range []string{"$defs", "command", "properties", "id", "enum"} {
		m, ok := doc.(map[string]any)
		require.True(t, ok, "no %s in the schema of command.id", k)
		doc = m[k]
	}
	var got []string
	for _, id := range doc.([]any) {
		got = append(got, id.(string))
	}
	slices.Sort(got)
	want := command.Builtins().IDs()
	slices.Sort(want)
	assert.Equal(t, want, got)
}

// TestEditorSchemaAcceptsKubernetesScalars: int-or-string and quantity fields take both forms,
// as Kubernetes' schema says, in both places a Pod appears.
func TestEditorSchemaAcceptsKubernetesScalars(t *testing.T) {
	s := editorSchema(t)
	const spec = `custom_requirements:
- id: a
  command: {id: scheduler, data: {kubernetes: {pod_name: checker}}}
  results: [{status: success}]
- id: b
  command:
    id: scheduler
    data:
      kubernetes:
        pod:
          spec:
            containers:
            - name: c
              image_expr: '"busybox"'
              readinessProbe: {httpGet: {port: http, path: /}}
              resources: {requests: {cpu: 0.5, memory: 64Mi}}
  results: [{status: success}]
---
apiVersion: v1
kind: Pod
metadata: {name: checker, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  containers:
  - name: c
    image: busybox
    ports: [{name: http, containerPort: 80}]
    readinessProbe: {tcpSocket: {port: 80}}
    livenessProbe: {httpGet: {port: http}}
    resources: {limits: {cpu: 1, memory: 1Gi}}
`
	for i, d := range documents(t, []byte(spec)) {
		assert.NoError(t, s.Validate(d), "document %d", i+1)
	}
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{},
		requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	assert.NoError(t, err)
}
