// Package schema holds the JSON Schema of a spec's documents, embedded in the library: the
// loader validates every document against it, and `preflight schema` prints it for editors
// (yaml-language-server).
//
// The schema (draft 2020-12) describes a requirements document (custom_requirements: the
// requirement, message, result, condition and retry objects, the built-in command ids, and
// each built-in command's data, chosen by command.id) and, for editors that validate every
// document of a file, a pod template document (apiVersion: v1, kind: Pod). Pods, the
// documents and a scheduler command's inline pod alike, are described by the Pod schema of
// the Kubernetes API the library is built with (k8s.io/api), generated from Kubernetes'
// OpenAPI definitions by `go generate ./schema` (internal/kubeschema) into
// kubernetes.defs.json. Commands that callers register under ids of their own accept any
// data object; WithCommands lists their ids for an editor.
package schema

//go:generate go run -C ../internal/kubeschema . -o ../../schema/kubernetes.defs.json

import (
	"bytes"
	_ "embed" // the schema text
	"encoding/json"
	"fmt"
	"slices"
)

// specSource is the hand-written part: the spec's own definitions.
//
//go:embed spec.schema.json
var specSource []byte

// kubeDefs is the generated part: the Pod and the Kubernetes types it reaches.
//
//go:embed kubernetes.defs.json
var kubeDefs []byte

// specJSON is specSource with kubeDefs' definitions added to its $defs.
var specJSON = mustSplice(specSource, kubeDefs)

// JSON returns the schema text. The caller may modify the returned slice.
func JSON() []byte { return bytes.Clone(specJSON) }

// WithCommands returns the schema text with ids added to the command ids it lists (the
// built-in ones), for an editor checking the specs of a program that registers commands of
// its own (command.Registry.Register): their data is accepted as any object. Ids already
// listed are skipped. The document's keys come out in sorted order.
func WithCommands(ids ...string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(specJSON, &doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	id, err := commandID(doc)
	if err != nil {
		return nil, err
	}
	enum, _ := id["enum"].([]any)
	for _, s := range ids {
		if s != "" && !slices.Contains(enum, any(s)) {
			enum = append(enum, s)
		}
	}
	id["enum"] = enum
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return buf.Bytes(), nil
}

// commandID returns the schema of command.id in a decoded schema.
func commandID(doc map[string]any) (map[string]any, error) {
	var v any = doc
	for _, k := range []string{"$defs", "command", "properties", "id"} {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schema: no %s in the command's schema", k)
		}
		v = m[k]
	}
	id, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: no command id in the schema")
	}
	return id, nil
}

// mustSplice adds the members of defs' $defs to the $defs of spec, textually, so that the
// hand-written part keeps its order. It panics on malformed input: both are embedded, and a
// test of this package loads them.
func mustSplice(spec, defs []byte) []byte {
	var generated struct {
		Defs json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(defs, &generated); err != nil {
		panic(fmt.Sprintf("schema: kubernetes.defs.json: %v", err))
	}
	members := bytes.TrimSpace(generated.Defs)
	members = bytes.TrimSpace(members[1 : len(members)-1]) // inside { }
	end, err := defsEnd(spec)
	if err != nil {
		panic(fmt.Sprintf("schema: spec.schema.json: %v", err))
	}
	out := make([]byte, 0, len(spec)+len(members)+8)
	out = append(out, bytes.TrimRight(spec[:end], " \t\r\n")...)
	out = append(out, ",\n    "...)
	out = append(out, members...)
	out = append(out, "\n  "...)
	return append(out, spec[end:]...)
}

// defsEnd returns the offset of the } that closes the top-level $defs object of spec.
func defsEnd(spec []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(spec))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, fmt.Errorf("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, err
		}
		if t == "$defs" {
			if len(v) == 0 || v[len(v)-1] != '}' {
				return 0, fmt.Errorf("$defs is not an object")
			}
			return int(dec.InputOffset()) - 1, nil
		}
	}
	return 0, fmt.Errorf("no $defs")
}
