// Package schema holds the JSON Schema of a spec's documents, embedded in the library: the
// loader validates every requirements document against it, and `preflight schema` prints it
// for editors (yaml-language-server).
//
// The schema (draft 2020-12) describes a requirements document (custom_requirements: the
// requirement, message, result, condition and retry objects, and each built-in command's
// data, chosen by command.id) and, for editors that validate every document of a file, a
// pod template document (apiVersion: v1, kind: Pod). Commands that callers register under
// ids of their own accept any data object.
package schema

import (
	"bytes"
	_ "embed" // the schema text
)

//go:embed spec.schema.json
var specJSON []byte

// JSON returns the schema text. The caller may modify the returned slice.
func JSON() []byte { return bytes.Clone(specJSON) }
