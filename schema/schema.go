// Package schema holds the JSON Schema of a spec's requirements document, embedded in the
// library: the loader validates every document against it, and `preflight schema` prints it
// for editors (yaml-language-server).
package schema
