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

// Limits bound what the loader accepts. Each is checked before the work it guards: bytes
// before parsing, aliases before expanding them, expression length before compiling.
type Limits struct {
	MaxBytes            int // total bytes of all sources (default 4 MiB)
	MaxDocuments        int // YAML documents, empty ones included (default 256)
	MaxDepth            int // nesting depth of any document (default 64)
	MaxAliases          int // YAML aliases expanded per document (default 0: anchors and aliases are refused)
	MaxExpressionLength int // bytes of one CEL expression (default 10 KiB)
}

// The default limits.
const (
	DefaultMaxBytes            = 4 << 20
	DefaultMaxDocuments        = 256
	DefaultMaxDepth            = 64
	DefaultMaxExpressionLength = 10 << 10
)

// withDefaults returns l with its zero (or negative) fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = DefaultMaxDocuments
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAliases < 0 {
		l.MaxAliases = 0
	}
	if l.MaxExpressionLength <= 0 {
		l.MaxExpressionLength = DefaultMaxExpressionLength
	}
	return l
}

// Source is one named input of a spec.
type Source struct {
	Name string // file name or "<stdin>", used in error locations ("<source N>" when empty)
	Data []byte
}

// Load loads a spec from one or more sources, in order. A spec with problems returns an
// *Error listing all of them; other errors mean a source could not be read or ctx is done.
// Load is safe for concurrent use; the returned Spec must not be modified while it runs.
// Giving no source at all is an error.
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
	// Snippet, for problems of a CEL expression, shows the expression's line with a caret
	// under the column.
	Snippet string
}

// Error lists the problems of a spec that failed to load, sorted by file (in the order the
// sources were given), line and column: the first 200 by position, and Omitted counts the
// rest. Its Error method prints one problem a line as "file:line:col: path: message". Load
// returns it (as error) for every problem of the spec itself; failures to read a file or a
// cancelled context are returned as other errors.
type Error struct {
	Problems []Problem
	// Omitted is how many problems were found beyond those listed (Count gives the total).
	Omitted int
}
