package celenv

import (
	"context"
	"fmt"
	"regexp"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// StateVar is the name under which an evaluation's activation gives the guards its
// *EvalState. No CEL identifier can spell it, so no expression can read it.
const StateVar = "#preflight.eval"

// EvalState is what the guards keep of one evaluation: its context, checked before every
// priced call, and the prices of the calls made so far. An activation that resolves StateVar
// to an *EvalState gets both checks; without one, each call is checked alone against
// PerCallCostLimit and the context is not checked. The zero value is ready for an evaluation
// with no context; use one EvalState per evaluation, from one goroutine.
type EvalState struct {
	// Ctx is the evaluation's context; nil means none.
	Ctx    context.Context
	priced uint64
}

// Reset readies s for a new evaluation under ctx.
func (s *EvalState) Reset(ctx context.Context) { s.Ctx, s.priced = ctx, 0 }

// evalState returns the activation's EvalState, or nil.
func evalState(act interpreter.Activation) *EvalState {
	if v, ok := act.ResolveName(StateVar); ok {
		if s, ok := v.(*EvalState); ok {
			return s
		}
	}
	return nil
}

// guards returns the program options that guard the calls of the programs planned in the
// environment whose functions are fns. Every call of a function pricedCalls prices is
// replaced, when the program is planned, by a guardedCall running the implementation the
// dispatcher would run (the overload's, or the function's dynamic dispatch); calls of
// matches, find and findAll with a constant pattern by one running the compiled pattern.
func guards(fns map[string]*decls.FunctionDecl) ([]cel.ProgramOption, error) {
	impls := map[string]*functions.Overload{}
	for name, fn := range fns {
		if _, ok := pricedCalls[name]; !ok {
			continue
		}
		bindings, err := fn.Bindings()
		if err != nil {
			return nil, fmt.Errorf("guarding %s: %w", name, err)
		}
		for _, b := range bindings {
			impls[b.Operator] = b
		}
	}
	decorate := func(i interpreter.Interpretable) (interpreter.Interpretable, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok {
			return i, nil
		}
		p, priced := pricedCalls[call.Function()]
		if !priced {
			return i, nil
		}
		impl := impls[call.OverloadID()]
		if impl == nil {
			impl = impls[call.Function()]
		}
		if impl == nil {
			return nil, fmt.Errorf("guarding %s: no implementation of overload %q", call.Function(), call.OverloadID())
		}
		return newGuardedCall(call, dispatch(impl), p.before), nil
	}
	// The decorator runs before cel-go's regular expression optimisation, which replaces the
	// calls with a constant pattern: regexOptimizations make those guarded calls again.
	return []cel.ProgramOption{cel.CustomDecorator(decorate), cel.OptimizeRegex(regexOptimizations...)}, nil
}

// dispatch runs impl as cel-go's planner would: the unary, binary or variadic form, after
// the operand trait check.
func dispatch(impl *functions.Overload) functions.FunctionOp {
	return func(args ...ref.Val) ref.Val {
		if len(args) == 0 || (impl.OperandTrait != 0 && !args[0].Type().HasTrait(impl.OperandTrait)) {
			return types.NoSuchOverloadErr()
		}
		switch {
		case len(args) == 1 && impl.Unary != nil:
			return impl.Unary(args[0])
		case len(args) == 2 && impl.Binary != nil:
			return impl.Binary(args[0], args[1])
		case impl.Function != nil:
			return impl.Function(args...)
		}
		return types.NoSuchOverloadErr()
	}
}

// guardedCall is a call of a priced function. Before it runs the function it checks the
// evaluation's context (so a cancelled run or an evaluation past its time limit stops
// between two calls, not only inside comprehensions as cel-go's interrupt checks do), then
// the call's price, computed from its arguments: a call that would take the prices of the
// evaluation's calls past PerCallCostLimit panics with the cost limit (cel-go turns the
// panic into the evaluation's error) instead of running. It keeps the call's id, function,
// overload and arguments, so the cost tracker charges it as before.
type guardedCall struct {
	id                 int64
	function, overload string
	args               []interpreter.Interpretable
	impl               functions.FunctionOp
	price              func(args []ref.Val) (price, bool)
}

func newGuardedCall(call interpreter.InterpretableCall, impl functions.FunctionOp, p func([]ref.Val) (price, bool)) *guardedCall {
	return &guardedCall{id: call.ID(), function: call.Function(), overload: call.OverloadID(), args: call.Args(), impl: impl, price: p}
}

// ID implements interpreter.Interpretable.
func (c *guardedCall) ID() int64 { return c.id }

// Function implements interpreter.InterpretableCall.
func (c *guardedCall) Function() string { return c.function }

// OverloadID implements interpreter.InterpretableCall.
func (c *guardedCall) OverloadID() string { return c.overload }

// Args implements interpreter.InterpretableCall.
func (c *guardedCall) Args() []interpreter.Interpretable { return c.args }

// Eval implements interpreter.Interpretable.
func (c *guardedCall) Eval(act interpreter.Activation) ref.Val {
	st := evalState(act)
	if st != nil && st.Ctx != nil && st.Ctx.Err() != nil {
		panic(interpreter.EvalCancelledError{Cause: interpreter.ContextCancelled,
			Message: fmt.Sprintf("operation interrupted: %v", context.Cause(st.Ctx))})
	}
	vals := make([]ref.Val, len(c.args))
	for i, a := range c.args {
		v := a.Eval(act)
		if types.IsUnknownOrError(v) {
			return v // the functions are strict
		}
		vals[i] = v
	}
	if p, ok := c.price(vals); ok {
		total := p.cost
		if st != nil {
			st.priced = satAdd(st.priced, p.cost)
			total = st.priced
		}
		if total > PerCallCostLimit {
			panic(refusal(p, total))
		}
	}
	return types.LabelErrNode(c.id, c.impl(vals...))
}

// regexOptimizations compile the constant patterns of matches, find and findAll once, when
// the program is built, as cel-go's and Kubernetes' optimisations do, and guard the calls
// (their price is the pattern's program size, known once, times the subject's length). They
// are keyed by overload id, which cel-go looks up before the function name, so that cel-go's
// own, unguarded optimisation of `matches` (added with OptOptimize) never applies; a test
// checks it for every form of the calls.
var regexOptimizations = []*interpreter.RegexOptimization{
	regexOptimization("matches", "matches", matchesOp),
	regexOptimization("matches", "matches_string", matchesOp),
	regexOptimization("find", "string_find_string", findOp),
	regexOptimization("findAll", "string_find_all_string", findAllOp),
	regexOptimization("findAll", "string_find_all_string_int", findAllOp),
}

// regexOp applies a compiled pattern to a call's arguments, the subject first.
type regexOp func(re *regexp.Regexp, args []ref.Val) ref.Val

func matchesOp(re *regexp.Regexp, args []ref.Val) ref.Val {
	return types.Bool(re.MatchString(string(args[0].(types.String))))
}

func findOp(re *regexp.Regexp, args []ref.Val) ref.Val {
	return types.String(re.FindString(string(args[0].(types.String))))
}

func findAllOp(re *regexp.Regexp, args []ref.Val) ref.Val {
	n := int64(-1)
	if len(args) == 3 {
		c, ok := args[2].(types.Int)
		if !ok {
			return types.MaybeNoSuchOverloadErr(args[2])
		}
		n = int64(c)
	}
	return types.NewStringList(types.DefaultTypeAdapter, re.FindAllString(string(args[0].(types.String)), int(n)))
}

func regexOptimization(function, overload string, op regexOp) *interpreter.RegexOptimization {
	return &interpreter.RegexOptimization{
		Function:   function,
		OverloadID: overload,
		RegexIndex: 1,
		Factory: func(call interpreter.InterpretableCall, pattern string) (interpreter.InterpretableCall, error) {
			re, err := regexp.Compile(pattern)
			if err != nil {
				return nil, err
			}
			size, err := patternSize(pattern)
			if err != nil {
				return nil, err
			}
			impl := func(args ...ref.Val) ref.Val {
				if _, ok := args[0].(types.String); !ok {
					return types.MaybeNoSuchOverloadErr(args[0])
				}
				return op(re, args)
			}
			p := func(args []ref.Val) (price, bool) {
				s, ok := args[0].(types.String)
				if !ok {
					return price{}, false
				}
				return regexCallPrice(function, len(s), len(pattern), size), true
			}
			return newGuardedCall(call, impl, p), nil
		},
	}
}
