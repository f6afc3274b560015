package requirement

import (
	"context"
	"io"

	"github.com/preflightkit/preflight/command"
)

// LoadOptions tunes loading. The zero value loads with the built-in commands and the default
// limits.
type LoadOptions struct {
	// Registry resolves command ids; nil means command.Builtins().
	Registry *command.Registry
	// Limits guard the loader; zero fields take the defaults.
	Limits Limits
}

// Limits bound what the loader accepts.
type Limits struct {
	MaxBytes            int // total bytes of all sources (default 4 MiB)
	MaxDocuments        int // YAML documents (default 256)
	MaxDepth            int // nesting depth of any document (default 64)
	MaxAliases          int // YAML aliases (default 0: anchors and aliases are refused)
	MaxExpressionLength int // bytes of one CEL expression (default 10 KiB)
}

// Source is one named input of a spec.
type Source struct {
	Name string // file name or "<stdin>", used in error locations
	Data []byte
}

// Load loads a spec from one or more sources, in order.
func Load(ctx context.Context, opts LoadOptions, sources ...Source) (*Spec, error) {
	return load(ctx, opts, sources)
}

// LoadFile loads a spec from files, with the default options.
func LoadFile(paths ...string) (*Spec, error) {
	return LoadFiles(context.Background(), LoadOptions{}, paths...)
}

// LoadFiles loads a spec from files.
func LoadFiles(ctx context.Context, opts LoadOptions, paths ...string) (*Spec, error) {
	return loadFiles(ctx, opts, paths)
}

// LoadReader loads a spec from r, named name in error locations.
func LoadReader(ctx context.Context, opts LoadOptions, name string, r io.Reader) (*Spec, error) {
	return loadReader(ctx, opts, name, r)
}

// Problem is one thing wrong with a spec.
type Problem struct {
	Location Location
	Message  string
}

// Error lists every problem of a spec that failed to load. Its Error method prints one
// problem a line as "file:line:col: path: message".
type Error struct {
	Problems []Problem
}
