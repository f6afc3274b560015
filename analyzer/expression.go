package analyzer

import "context"

// Expression is a compiled, type-checked CEL expression. It is safe for concurrent use.
type Expression struct {
	src string
	// implementation fields are added by the CEL implementation
	impl exprImpl
}

// Source returns the expression's text.
func (e *Expression) Source() string { return e.src }

// Compile parses and type-checks src as a bool expression for scope. Its error, when not nil,
// is an *ExprError listing every problem with its line, column and a caret snippet.
func Compile(src string, scope Scope) (*Expression, error) { return compile(src, scope) }

// ExprError lists the problems of an expression that did not compile.
type ExprError struct {
	Issues []Issue
}

// Issue is one problem of an expression, positioned within the expression's text.
type Issue struct {
	Line    int    // 1-based line within the expression
	Column  int    // 1-based column within the line
	Message string // what is wrong
	Snippet string // the offending line and a caret under the column
}

// Eval evaluates the expression. It returns an error, never false, when the expression
// cannot be evaluated (a runtime error, the cost limit, a cancelled ctx).
func (e *Expression) Eval(ctx context.Context, c *Context, in *Input) (bool, error) {
	return e.eval(ctx, c, in)
}

// UsesCluster reports whether the expression reads `cluster`, so that the runner fetches
// cluster facts only when some expression needs them.
func (e *Expression) UsesCluster() bool { return e.impl.usesCluster() }

// Reads reports whether the expression reads the variable named as a spec writes it
// ("stdout", "output", "truncated", "cluster", ...), or a field of app
// ("app.previous_version": an expression that uses app whole reads each of its fields). Like UsesCluster it is read from the
// checked expression, at compile time: an expression that names the variable reads it,
// whether or not a given evaluation reaches it. Matching uses it to refuse a success judged
// on an output cut at its limit (Input.Truncated) by conditions that read stdout, stderr or
// output and not truncated.
func (e *Expression) Reads(variable string) bool { return e != nil && e.impl.readsVar(variable) }
