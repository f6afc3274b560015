package specschema

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/schema"
)

// barePod is the schema as the loader compiled it before the Pod schema was embedded: both
// places a Pod appears take any object, and the generated definitions are left out.
func barePod(b *testing.B) []byte {
	var doc map[string]any
	if err := json.Unmarshal(schema.JSON(), &doc); err != nil {
		b.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	for name := range defs {
		if strings.HasPrefix(name, "io.k8s.") || strings.HasPrefix(name, "data.io.k8s.") {
			delete(defs, name)
		}
	}
	defs["podDocument"].(map[string]any)["allOf"] = []any{map[string]any{"type": "object"}}
	pod := ValueAt(defs, []string{"schedulerData", "properties", "kubernetes", "properties", "pod"}).(map[string]any)
	pod["allOf"] = []any{map[string]any{"type": "object"}}
	text, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	if text, err = asDraft2019(bytes.Replace(text, []byte(`"$schema":`), []byte(`"$schema": `), 1)); err != nil {
		b.Fatal(err)
	}
	return text
}

// loaderText is the schema as the loader compiles it.
func loaderText(b *testing.B) []byte {
	text, err := asDraft2019(schema.JSON())
	if err != nil {
		b.Fatal(err)
	}
	return text
}

func compile(b *testing.B, text []byte) *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(id, bytes.NewReader(text)); err != nil {
		b.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCompile measures what the first load of a process pays once (the schema is
// compiled once per process): as the loader compiles it (declared 2019-09), as its 2020-12
// text would compile, and the schema before the Pod schema was embedded (bare-pod).
func BenchmarkCompile(b *testing.B) {
	for _, bc := range []struct {
		name string
		text []byte
	}{{"loader", loaderText(b)}, {"as-2020-12", schema.JSON()}, {"bare-pod", barePod(b)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				compile(b, bc.text)
			}
		})
	}
}

// podDocument is a license-checker pod template, as in the examples.
const podDocument = `apiVersion: v1
kind: Pod
metadata: {name: license-checker, labels: {app: checker}}
spec:
  restartPolicy: Never
  tolerations: [{operator: Exists}]
  containers:
  - name: tester
    image: busybox
    command: ["test", "-e", "/host/etc/vendor-license"]
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: root, mountPath: /host, readOnly: true}]
  volumes: [{name: root, hostPath: {path: /}}]
`

// BenchmarkValidatePod measures validating one pod template document, as the loader does for
// each: with the Pod schema and with a bare Pod.
func BenchmarkValidatePod(b *testing.B) {
	j, err := yaml.YAMLToJSON([]byte(podDocument))
	if err != nil {
		b.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		text []byte
	}{{"loader", loaderText(b)}, {"bare-pod", barePod(b)}} {
		s := compile(b, bc.text)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Validate(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
