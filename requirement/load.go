package requirement

import (
	"context"
	"io"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/readctx"
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
// before parsing, aliases before expanding them, the CEL expressions of the whole spec
// (counted once per distinct text, as each distinct text is compiled once) before any is
// compiled. One expression's length is bounded by the CEL environment (10 KiB), not here.
type Limits struct {
	MaxBytes     int // total bytes of all sources (default DefaultMaxBytes)
	MaxDocuments int // YAML documents, empty ones included (default 256)
	MaxDepth     int // nesting depth of any document (default 64)
	MaxAliases   int // YAML aliases expanded per document (default 0: anchors and aliases are refused)
	// MaxExpressions bounds the distinct CEL expressions (when, condition.expr, bool_expr,
	// message_expr and the K_expr keys of command data) of all sources together (default
	// 2000). Compiling one takes at least about 0.2 ms and keeps about 50 KB, however short
	// it is.
	MaxExpressions int
	// MaxExpressionBytes bounds the length of those distinct expressions together (default
	// 256 KiB), an expression longer than 256 bytes counting its length times its length
	// over 256 (1 KiB counts 4 KiB, 8 KiB the whole default): the type checker's work grows
	// with the square of an expression's length.
	MaxExpressionBytes int
}

// DefaultMaxBytes is the default of Limits.MaxBytes: 4 MiB for all sources together.
const DefaultMaxBytes = 4 << 20

// The other default limits.
const (
	defaultMaxDocuments       = 256
	defaultMaxDepth           = 64
	defaultMaxExpressions     = 2000
	defaultMaxExpressionBytes = 256 << 10
)

// withDefaults returns l with its zero (or negative) fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = defaultMaxDocuments
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxExpressions <= 0 {
		l.MaxExpressions = defaultMaxExpressions
	}
	if l.MaxExpressionBytes <= 0 {
		l.MaxExpressionBytes = defaultMaxExpressionBytes
	}
	if l.MaxAliases < 0 {
		l.MaxAliases = 0
	}
	return l
}

// Source is one named input of a spec.
type Source struct {
	// Name is the file name or "<stdin>", used in error locations ("<source N>" when empty).
	Name string
	// Reader holds the spec's text. Load reads it to its end, no further than what is left
	// of Limits.MaxBytes; when ctx ends a read that blocks, Load returns at once and closes
	// the reader if it is an io.Closer.
	Reader io.Reader
}

// Load loads a spec from one or more sources, in order. A spec with problems returns an
// *Error listing all of them; other errors mean a source could not be read or ctx is done.
// Giving no source at all, or sources that hold no requirement, is an error: an empty gate
// would pass without checking anything. Load is safe for concurrent use; the returned Spec
// must not be modified while it runs.
func Load(ctx context.Context, opts LoadOptions, sources ...Source) (*Spec, error) {
	return load(ctx, opts, sources)
}

// LoadFiles loads a spec from files, in order, as Load does. A file is opened when it is
// read, so that a FIFO without a writer gives way to ctx too.
func LoadFiles(ctx context.Context, opts LoadOptions, paths ...string) (*Spec, error) {
	sources := make([]Source, len(paths))
	for i, p := range paths {
		f := readctx.File(p)
		defer f.Close()
		sources[i] = Source{Name: p, Reader: f}
	}
	return load(ctx, opts, sources)
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
