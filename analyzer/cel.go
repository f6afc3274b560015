package analyzer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/preflightkit/preflight/internal/celenv"
)

// Limits of expressions, the numbers Kubernetes uses for CEL (docs/cel.md lists them).
const (
	// maxExpressionBytes is the longest expression Compile accepts (10 KiB).
	maxExpressionBytes = celenv.MaxExpressionBytes
	// perCallCostLimit bounds the cost of one evaluation (about 0.1 s of CPU); an evaluation
	// that reaches it fails with ErrCostLimit.
	perCallCostLimit = celenv.PerCallCostLimit
	// staticCostLimit bounds the cost Compile estimates for an expression, with stdout and
	// stderr at 1 MiB and the run's other data of any size; above it the expression is refused
	// as too complex.
	staticCostLimit = celenv.StaticCostLimit
	// defaultRunBudget is the cost a zero Budget allows the expressions of one run together.
	defaultRunBudget = celenv.RunCostBudget
	// maxOutputBytes is the largest stdout or stderr an expression is evaluated against; the
	// runner caps outputs well below it (1 MiB by default), and a larger one is an evaluation
	// error rather than a silently truncated input.
	maxOutputBytes = 64 << 20
	// maxEvalDurationLimit bounds the wall-clock time of one evaluation of a cost-tracked
	// expression. The cost limit is meant to bound time, but cel-go v0.26's cost tracker is
	// quadratic in the number of comprehension iterations (10,000 iterations take about 0.5 s
	// of CPU while costing 50,000), so a loop over a large list needs this second guard. The
	// evaluation checks it every 100 comprehension iterations (cel-go's interrupt checks) and
	// before every call of a function priced by what it does (celenv's guards: replace, split,
	// join, format, regular expressions, ...), each of which is also refused before it runs
	// when its price alone passes the cost limit: between two checks an evaluation does at
	// most one call's work, bounded by the cost limit. An expression proven cheap at load
	// (the untracked fast path) needs no timer: its cost, and so its time, is bounded before
	// it starts.
	maxEvalDurationLimit = 5 * time.Second
)

// Evaluation errors, to be matched with errors.Is.
var (
	// ErrCostLimit: an evaluation reached perCallCostLimit.
	ErrCostLimit = errors.New("CEL cost limit per evaluation exceeded")
	// ErrBudgetExhausted: the run's Budget is spent; no further expression is evaluated.
	ErrBudgetExhausted = errors.New("CEL cost budget of the run exhausted")
	// ErrEvalTimeout: an evaluation ran into its time limit, maxEvalDurationLimit.
	ErrEvalTimeout = fmt.Errorf("CEL evaluation time limit of %s exceeded", maxEvalDurationLimit)
)

// maxEvalDuration is the limit in force; tests shorten it.
var maxEvalDuration = maxEvalDurationLimit

// exprImpl is the compiled form of an Expression.
type exprImpl struct {
	scope Scope
	// want is nil for a bool expression, else the types a value expression may have.
	want []reflect.Type
	// program returns the cost-tracked program. When a fast program exists it is built only
	// if an input outgrows the fast program's bound, which halves the work of loading a spec.
	program func() (cel.Program, error)
	ast     *cel.Ast
	// reads are the variables the expression reads, sorted.
	reads []string
	// fast, when not nil, is the program without cost tracking, used when the bounded inputs
	// are within celenv.OutputSizeBound; bound is then its cost.
	fast  cel.Program
	bound celenv.Bound
	// maxCost is the static estimate Compile checked against staticCostLimit.
	maxCost uint64
}

func (i exprImpl) usesCluster() bool { return i.readsVar(celenv.VarCluster) }

// EstimatedCost returns the worst-case cost Compile estimated for the expression (with stdout
// and stderr at 1 MiB and the run's other data empty); it is at most staticCostLimit.
func (e *Expression) EstimatedCost() uint64 {
	if e == nil {
		return 0
	}
	return e.impl.maxCost
}

// Scope returns the scope the expression was compiled for.
func (e *Expression) Scope() Scope { return e.impl.scope }

// String returns the expression's text.
func (e *Expression) String() string { return e.src }

// String returns the scope's name as the spec calls it: "when" or "condition".
func (s Scope) String() string {
	switch s {
	case ScopeWhen:
		return "when"
	case ScopeCondition, ScopeSecretsCondition:
		return "condition"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Error renders every issue as "line:column: message" followed by its snippet.
func (e *ExprError) Error() string {
	if e == nil || len(e.Issues) == 0 {
		return "invalid expression"
	}
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d:%d: %s", is.Line, is.Column, is.Message)
		if is.Snippet != "" {
			b.WriteByte('\n')
			b.WriteString(is.Snippet)
		}
	}
	return b.String()
}

func compile(src string, scope Scope) (*Expression, error) { return compileAs(src, scope, nil) }

// compileAs compiles src in scope. want nil means a bool expression (a `when` or a
// condition); otherwise the expression's value is data, whose checked type must be one of want
// (or dyn, checked by Value).
func compileAs(src string, scope Scope, want []reflect.Type) (*Expression, error) {
	if len(src) > maxExpressionBytes {
		return nil, &ExprError{Issues: []Issue{{Line: 1, Column: 1,
			Message: fmt.Sprintf("expression is %d bytes long, more than the limit of %d bytes: split the check into several requirements", len(src), maxExpressionBytes)}}}
	}
	if strings.TrimSpace(src) == "" {
		msg := "expression is empty: write a CEL expression that evaluates to bool, such as status_code == 0"
		if want != nil {
			msg = fmt.Sprintf("expression is empty: write a CEL expression whose value is %s, such as %s", describeTypes(want), exampleOf(want[0]))
		}
		return nil, &ExprError{Issues: []Issue{{Line: 1, Column: 1, Message: msg}}}
	}
	var (
		env *cel.Env
		err error
	)
	switch scope {
	case ScopeWhen:
		env, err = celenv.When()
	case ScopeCondition:
		env, err = celenv.Condition()
	case ScopeSecretsCondition:
		env, err = celenv.SecretsCondition()
	default:
		return nil, fmt.Errorf("compiling a CEL expression: unknown scope %d", int(scope))
	}
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, issuesError(env, src, iss.Errors(), scope)
	}
	// dyn is accepted (`vars.enabled` is a natural `when`); Eval then checks the value.
	if t := ast.OutputType(); want == nil && !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0,
			fmt.Sprintf("must evaluate to bool, got %s: compare the value, as in `%s == ...`", typeName(t), firstLine(src)))}}
	} else if want != nil && !assignable(want, t) {
		return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0,
			fmt.Sprintf("must evaluate to %s, got %s%s", describeTypes(want), typeName(t), conversionHint(want, t)))}}
	}
	est, err := celenv.EstimateCost(env, ast)
	if err != nil {
		return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0, "cannot estimate the cost: "+err.Error())}}
	}
	if est.Max > staticCostLimit {
		return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0,
			fmt.Sprintf("too complex: estimated cost %d exceeds limit %d (worst case with stdout and stderr at 1 MiB); avoid nested loops over the output, long regular expressions (counted repetitions such as .{1000} count as 1000 steps) and replace or join building strings from the output", est.Max, staticCostLimit))}}
	}
	tracked := func() (cel.Program, error) { return celenv.Program(ast) }
	impl := exprImpl{
		scope:   scope,
		want:    want,
		ast:     ast,
		reads:   variables(ast),
		maxCost: est.Max,
	}
	if bound, ok := celenv.BoundCost(env, ast); ok {
		fast, err := celenv.UntrackedProgram(ast)
		if err != nil {
			return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0, err.Error())}}
		}
		impl.fast, impl.bound = fast, bound
		impl.program = sync.OnceValues(tracked)
	} else {
		prg, err := tracked()
		if err != nil {
			return nil, &ExprError{Issues: []Issue{positioned(src, 1, 0, err.Error())}}
		}
		impl.program = func() (cel.Program, error) { return prg, nil }
	}
	return &Expression{src: src, impl: impl}, nil
}

// typeName names a CEL type as a spec writer knows it.
func typeName(t *cel.Type) string {
	if t == nil {
		return "unknown"
	}
	return t.String()
}

func firstLine(src string) string {
	s := strings.TrimSpace(src)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// issuesError turns cel's issues into an *ExprError.
func issuesError(env *cel.Env, src string, errs []*cel.Error, scope Scope) *ExprError {
	out := &ExprError{Issues: make([]Issue, 0, len(errs))}
	var parsed *celast.AST
	base64 := false
	for _, e := range errs {
		base64 = base64 || strings.TrimSuffix(e.Message, " (in container '')") == "undeclared reference to 'base64'"
	}
	for _, e := range errs {
		msg := strings.TrimSuffix(e.Message, " (in container '')")
		if scope == ScopeWhen {
			msg = whenHint(msg)
		}
		if base64 {
			// base64.decode reads as a call of decode on a variable base64: one issue says it.
			if msg == "undeclared reference to 'decode'" || msg == "undeclared reference to 'encode'" {
				continue
			}
			if msg == "undeclared reference to 'base64'" {
				msg += ": base64.decode and base64.encode exist only in the conditions and message_expr of a kubernetes command that reads Secrets with include_secret_values: true"
			}
		}
		if strings.HasPrefix(msg, "undefined field '") {
			if parsed == nil {
				if a, iss := env.Parse(src); iss == nil || iss.Err() == nil {
					parsed = a.NativeRep()
				}
			}
			msg = fieldHint(msg, parsed, e.ExprID)
		}
		out.Issues = append(out.Issues, positioned(src, e.Location.Line(), e.Location.Column(), msg))
	}
	return out
}

// fieldHint rewrites the checker's "undefined field 'f'" on a declared object (app, cluster,
// a node, a taint) to name the fields that exist: "app has no field 'verison': it has
// previous_version and version". parsed is the expression's parse (nil if unknown); id is
// the select the error is about.
func fieldHint(msg string, parsed *celast.AST, id int64) string {
	field := strings.TrimSuffix(strings.TrimPrefix(msg, "undefined field '"), "'")
	types := celenv.ObjectTypes()
	// A selection straight on app or cluster names its type.
	if parsed != nil {
		if e, ok := findExpr(parsed.Expr(), id); ok && e.Kind() == celast.SelectKind {
			if op := e.AsSelect().Operand(); op.Kind() == celast.IdentKind {
				if t, ok := types[op.AsIdent()]; ok {
					return fmt.Sprintf("%s has no field '%s': it has %s", t.Name, field, andList(t.Fields))
				}
			}
		}
	}
	// Otherwise it is one of the nested objects; name them all.
	var parts []string
	for _, k := range []string{"cluster.nodes[]", "cluster.nodes[].taints[]"} {
		t := types[k]
		parts = append(parts, fmt.Sprintf("%s have %s", t.Name, andList(t.Fields)))
	}
	return fmt.Sprintf("%s: %s", msg, strings.Join(parts, "; "))
}

// findExpr returns the expression of root with the given id.
func findExpr(root celast.Expr, id int64) (celast.Expr, bool) {
	var found celast.Expr
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.ID() == id {
			found = e
		}
	}))
	return found, found != nil
}

// andList renders names as "a, b and c".
func andList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// whenHint adds a hint to an undeclared reference to a condition-only variable in a `when`.
func whenHint(msg string) string {
	for _, v := range []string{celenv.VarStatusCode, celenv.VarStdout, celenv.VarStderr, celenv.VarError,
		celenv.VarOutput, celenv.VarNode, celenv.VarDuration, celenv.VarTruncated} {
		if msg == "undeclared reference to '"+v+"'" {
			return msg + ": " + v + " exists only in result conditions, after the command ran"
		}
	}
	return msg
}

// positioned builds an Issue at line (1-based) and column (0-based, in code points) of src,
// with a caret snippet in the style of cel's ToDisplayString.
func positioned(src string, line, col int, msg string) Issue {
	if line < 1 {
		line = 1
	}
	if col < 0 {
		col = 0
	}
	is := Issue{Line: line, Column: col + 1, Message: msg}
	lines := strings.Split(src, "\n")
	if line > len(lines) {
		return is
	}
	text := strings.ReplaceAll(strings.TrimSuffix(lines[line-1], "\r"), "\t", " ")
	if utf8.RuneCountInString(text) > 200 {
		// A very long line would make an unreadable snippet; keep the position only.
		return is
	}
	var caret strings.Builder
	rest := text
	for i := 0; i < col && rest != ""; i++ {
		_, sz := utf8.DecodeRuneInString(rest)
		rest = rest[sz:]
		if sz > 1 {
			caret.WriteString("\uff0e")
		} else {
			caret.WriteByte('.')
		}
	}
	if _, sz := utf8.DecodeRuneInString(rest); sz > 1 {
		caret.WriteString("\uff3e")
	} else {
		caret.WriteByte('^')
	}
	is.Snippet = " | " + text + "\n | " + caret.String()
	return is
}

// variables returns the variables the checked expression refers to, sorted. A comprehension's
// variable that takes a variable's name counts as reading it.
func variables(ast *cel.Ast) []string {
	var names []string
	refs := ast.NativeRep().ReferenceMap()
	for _, ref := range refs {
		if ref != nil && celenv.IsVariable(ref.Name) && !slices.Contains(names, ref.Name) {
			names = append(names, ref.Name)
		}
	}
	// The fields of app read: "app.previous_version" for app.previous_version; every field
	// when app is used whole (passed to a function, compared), since then any may be read.
	if slices.Contains(names, celenv.VarApp) {
		uses, selects := 0, 0
		var fields []string
		celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
			switch e.Kind() {
			case celast.IdentKind:
				if ref := refs[e.ID()]; ref != nil && ref.Name == celenv.VarApp {
					uses++
				}
			case celast.SelectKind:
				sel := e.AsSelect()
				if op := sel.Operand(); op.Kind() == celast.IdentKind {
					if ref := refs[op.ID()]; ref != nil && ref.Name == celenv.VarApp {
						selects++
						fields = append(fields, celenv.VarApp+"."+sel.FieldName())
					}
				}
			}
		}))
		if uses > selects {
			fields = []string{celenv.VarApp + "." + celenv.AppVersion, celenv.VarApp + "." + celenv.AppPreviousVersion, celenv.VarApp + "." + celenv.AppNamespace}
		}
		for _, f := range fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	slices.Sort(names)
	return names
}

func (i exprImpl) readsVar(name string) bool {
	_, found := slices.BinarySearch(i.reads, name)
	return found
}

func (e *Expression) eval(ctx context.Context, c *Context, in *Input) (bool, error) {
	return e.evalIn(ctx, &activation{c: c, in: in})
}

// evalIn evaluates the expression against act, which may be shared by several expressions
// evaluated one after the other on the same output (it memoizes `output`).
func (e *Expression) evalIn(ctx context.Context, act *activation) (bool, error) {
	if e != nil && e.impl.want != nil {
		return false, errors.New("a value expression has no bool result: use Value")
	}
	val, err := e.evalRef(ctx, act)
	if err != nil {
		return false, err
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("must evaluate to bool, got %s", val.Type().TypeName())
	}
	return bool(b), nil
}

// evalRef evaluates the expression against act under the limits (the context, the output
// size, the per-call cost limit and the run's budget) and returns its CEL value.
func (e *Expression) evalRef(ctx context.Context, act *activation) (ref.Val, error) {
	if e == nil || e.impl.program == nil {
		return nil, errors.New("expression was not compiled: use analyzer.Compile")
	}
	if ctx == nil {
		return nil, errors.New("evaluating a CEL expression: nil context")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not evaluated: %w", context.Cause(ctx))
	}
	if e.impl.scope != ScopeWhen {
		if act.in == nil {
			return nil, errors.New("a result condition needs the command's output, and there is none")
		}
		if n := max(len(act.in.Stdout), len(act.in.Stderr)); n > maxOutputBytes {
			return nil, fmt.Errorf("the command output is %d bytes, more than the %d bytes CEL evaluates", n, maxOutputBytes)
		}
	}
	var budget *Budget
	if act.c != nil {
		budget = act.c.Budget
	}
	if budget.exhausted() {
		return nil, budget.exhaustedError()
	}
	var prg cel.Program
	fast, size := false, 0
	if e.impl.fast != nil {
		if n, ok := act.boundedSize(); ok {
			prg, fast, size = e.impl.fast, true, n
		}
	}
	if !fast {
		p, err := e.impl.program()
		if err != nil {
			return nil, fmt.Errorf("building the CEL program: %w", err)
		}
		prg = p
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, maxEvalDuration, ErrEvalTimeout)
		defer cancel()
	}
	act.state.Reset(ctx)
	val, det, err := prg.ContextEval(ctx, act)
	act.state.Reset(nil)
	var cost uint64
	switch {
	case fast:
		cost = e.impl.bound.Cost(size)
	case det != nil && det.ActualCost() != nil:
		cost = *det.ActualCost()
	}
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		cost = perCallCostLimit
	}
	if !budget.charge(cost) {
		return nil, budget.exhaustedError()
	}
	if err != nil {
		return nil, e.evalError(ctx, err)
	}
	return val, nil
}

// evalError explains an evaluation error, with the position of the failing term when cel
// tells which it was.
func (e *Expression) evalError(ctx context.Context, err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		if what, ok := celenv.Refusal(cancelled); ok {
			return fmt.Errorf("%w (%d): %s; the call was refused before it ran", ErrCostLimit, perCallCostLimit, what)
		}
		return fmt.Errorf("%w (%d): the expression does too much work for this output", ErrCostLimit, perCallCostLimit)
	}
	if ctx.Err() != nil {
		// The interrupt checks of a comprehension, or the guards before a priced call, saw
		// the context done.
		return fmt.Errorf("evaluation interrupted: %w", context.Cause(ctx))
	}
	if errors.As(err, &cancelled) {
		return fmt.Errorf("evaluation interrupted: %w", err)
	}
	var celErr *types.Err
	if errors.As(err, &celErr) && celErr.NodeID() != 0 && e.impl.ast != nil {
		loc := e.impl.ast.NativeRep().SourceInfo().GetStartLocation(celErr.NodeID())
		if loc != common.NoLocation && loc.Line() > 0 {
			return fmt.Errorf("%d:%d: %w", loc.Line(), loc.Column()+1, err)
		}
	}
	return err
}
