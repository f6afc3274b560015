package celenv

import (
	"fmt"
	"math"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apiserver/pkg/cel/library"
)

// The cost model. Kubernetes' (k8s.io/apiserver/pkg/cel/library.CostEstimator, cel-go's
// checker and interpreter) charges a call after it has run, and prices several functions by
// their input alone: `replace` costs 0.2 per byte of the string it is called on, whatever it
// produces, so `stdout.replace("", stdout)` on 1 MiB is charged 200,000 for building a 1 TiB
// string; a regular expression is priced by the length of its pattern, so
// `x.{1000}.{1000}.{1000}y` (23 characters, 3,002 instructions) is charged as if it were 23
// instructions long. costModel prices these calls by what they do, in the same units:
//
//   - 0.1 (common.StringTraversalCostFactor) per byte read or produced, a list element
//     produced counting as the 16 bytes of a string header (replace, split, join, format,
//     strings.quote, charAt);
//   - a search is Kubernetes' regular expression cost, ceil(0.1·(1+n))·ceil(0.25·m) for a
//     subject of n bytes, with m the pattern's length or, when larger, the size of its
//     program in instructions (repetitions expanded): Go's RE2 engine is linear in n·m, and
//     that is its worst case (matches, find, findAll; and indexOf and lastIndexOf, whose
//     implementation compares the needle of m characters at every position);
//   - the lists and sets extensions' own formulas, applied to dyn lists too, with flatten
//     priced by the list it builds.
//
// Every price is at least what Kubernetes charges for the same call, so an expression never
// costs less here than in Kubernetes.
//
// The same prices serve three purposes: the static estimate at load (EstimateCost, BoundCost),
// the runtime tracker after each call (CallCost), and a guard before each call of those
// functions (guardedFunctions): a call whose price, computed from its arguments before it runs,
// is above PerCallCostLimit is refused and the evaluation fails with the cost limit, so that
// no single call can do more work than the limit allows before the tracker sees it.
const (
	traversalFactor = common.StringTraversalCostFactor
	regexFactor     = common.RegexStringLengthCostFactor
	// elementBytes is what one element of a list a call builds counts for: a string header.
	elementBytes = 16
)

// costModel is the cost estimator of both the static estimate (checker.CostEstimator) and
// the runtime tracker (interpreter.ActualCostEstimator): Kubernetes' library estimator with
// the prices of pricedCalls on top.
type costModel struct{ library.CostEstimator }

// newCostModel returns the cost model sizing what the library cannot size with sizes.
func newCostModel(sizes checker.CostEstimator) *costModel {
	return &costModel{library.CostEstimator{SizeEstimator: sizes}}
}

// runtimeCost is the cost model of the runtime tracker; it sizes nothing statically.
var runtimeCost = newCostModel(nil)

// CallCost implements interpreter.ActualCostEstimator: the price of a priced call (computed
// from its arguments and result), otherwise the lists and sets extensions' costs by function
// name, otherwise Kubernetes' library estimator. The extensions charge through per-overload
// trackers that the program environment leaves out (see newRuntime); charged by function
// name, their costs also apply to calls on dyn values (a list from vars or output), which
// cel-go v0.26's trackers miss.
func (m *costModel) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if p, ok := pricedCalls[function]; ok {
		if p.after != nil {
			if c, ok := p.after(args, result); ok {
				return &c
			}
		}
		if c, ok := p.before(args); ok {
			return &c.cost
		}
	}
	switch function {
	case "slice", "reverse":
		return listCallCost(sizeOf(result))
	case "base64.decode", "base64.encode":
		// Linear in the input, like a string traversal (the encoders extension has no cost
		// of its own).
		if len(args) == 1 {
			c := 1 + uint64(math.Ceil(float64(sizeOf(args[0]))*common.StringTraversalCostFactor))
			return &c
		}
	}
	return m.CostEstimator.CallCost(function, overloadID, args, result)
}

// EstimateCallCost implements checker.CostEstimator: the static counterpart of CallCost for
// the string functions and regular expressions (the lists and sets extensions estimate their
// own calls), otherwise Kubernetes' library estimator.
func (m *costModel) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	base := m.CostEstimator.EstimateCallCost(function, overloadID, target, args)
	switch function {
	case "replace", "split":
		// The library's cost is the traversal; add what the call builds.
		if base != nil && base.ResultSize != nil {
			per := traversalFactor
			if function == "split" {
				per *= elementBytes
			}
			return &checker.CallEstimate{CostEstimate: base.CostEstimate.Add(base.ResultSize.MultiplyByCostFactor(per)), ResultSize: base.ResultSize}
		}
	case "join":
		// The library charges 0.1 per byte of the result: add reading the elements (their
		// bytes, at most the result's) and their headers.
		if base != nil && base.ResultSize != nil && target != nil {
			add := base.ResultSize.MultiplyByCostFactor(traversalFactor).
				Add(m.size(*target).MultiplyByCostFactor(traversalFactor * elementBytes))
			return &checker.CallEstimate{CostEstimate: base.CostEstimate.Add(add), ResultSize: base.ResultSize}
		}
	case "indexOf", "lastIndexOf":
		if target != nil && len(args) >= 1 && (*target).Type().Kind() == types.StringKind {
			est := m.size(*target).MultiplyByCostFactor(traversalFactor).
				Add(searchEstimate(m.size(*target), m.size(args[0]).MultiplyByCostFactor(regexFactor)))
			return &checker.CallEstimate{CostEstimate: est}
		}
	case FuncKStatus:
		// The static counterpart of kstatusPrice: a traversal of the object.
		if len(args) == 1 {
			return &checker.CallEstimate{CostEstimate: m.size(args[0]).MultiplyByCostFactor(traversalFactor).Add(checker.CostEstimate{Min: 1, Max: 1})}
		}
	case "charAt":
		if target != nil {
			return &checker.CallEstimate{CostEstimate: m.size(*target).MultiplyByCostFactor(traversalFactor)}
		}
	case "strings.quote":
		if len(args) == 1 {
			in := m.size(args[0])
			out := checker.SizeEstimate{Min: in.Min, Max: in.Max}.Multiply(checker.SizeEstimate{Min: 1, Max: 3}).Add(checker.SizeEstimate{Min: 2, Max: 2})
			return &checker.CallEstimate{CostEstimate: in.Add(out).MultiplyByCostFactor(traversalFactor), ResultSize: &out}
		}
	case "format":
		if target != nil && len(args) == 1 {
			return m.estimateFormat(*target, args[0])
		}
	case "matches", "find", "findAll":
		subject, pattern, ok := regexOperands(target, args)
		if !ok {
			break
		}
		lit := pattern.Expr().AsLiteral()
		p, isString := lit.(types.String)
		if lit == nil || !isString {
			// A pattern only the run knows: as many instructions as such a pattern can have.
			est := checker.CallEstimate{CostEstimate: searchEstimate(m.size(subject), m.size(pattern).MultiplyByCostFactor(regexFactor*maxInstructionsPerByte))}
			if base != nil {
				est.ResultSize = base.ResultSize
			}
			return &est
		}
		size, err := patternSize(string(p))
		if err != nil {
			break
		}
		c := regexCost(size, len(p))
		est := checker.CallEstimate{CostEstimate: searchEstimate(m.size(subject), checker.CostEstimate{Min: c, Max: c})}
		if base != nil {
			est.ResultSize = base.ResultSize
		}
		return &est
	}
	return base
}

// maxInstructionsPerByte bounds the program size of a pattern per byte of its text: a
// repetition multiplies its operand by up to 1000 (Go's limit on nested repetition), and
// `(a|b|c|...){1000}` approaches 1000 instructions per byte.
const maxInstructionsPerByte = 1000

// estimateFormat is the static counterpart of formatPrice: the format string, and per
// element of the argument list, its bytes twice (a string under %x) or the longest scalar
// (a double under the largest precision the format string names); elements of other types,
// or of a list only the run knows, are sized by the size estimator's policy for unknown data.
func (m *costModel) estimateFormat(target, list checker.AstNode) *checker.CallEstimate {
	f := m.size(target)
	precision := uint64(defaultFormatPrecision)
	if lit, ok := target.Expr().AsLiteral().(types.String); ok {
		precision = max(precision, maxPrecision(string(lit)))
	} else {
		// A format string only the run knows may name any precision.
		precision = satAdd(precision, m.size(unknownNode{}).Max)
	}
	scalar := checker.SizeEstimate{Min: 0, Max: satAdd(formattedDouble, precision)}
	twice := checker.SizeEstimate{Min: 2, Max: 2}
	// elemSize sizes an element of the list (n: the element's node, or unknownNode for the
	// elements of a list only the run knows): for a list of mixed types, the element's own
	// size (a variable's field, such as stdout, is sized by its path) or a scalar.
	elemSize := func(n checker.AstNode) checker.SizeEstimate { return m.size(n).Multiply(twice).Union(scalar) }
	if params := list.Type().Parameters(); len(params) == 1 {
		switch params[0].Kind() {
		case types.StringKind, types.BytesKind:
			elemSize = func(n checker.AstNode) checker.SizeEstimate { return m.size(n).Multiply(twice) }
		case types.IntKind, types.UintKind, types.DoubleKind, types.BoolKind, types.NullTypeKind,
			types.TimestampKind, types.DurationKind:
			elemSize = func(checker.AstNode) checker.SizeEstimate { return scalar }
		}
	}
	out := f
	if e := list.Expr(); e.Kind() == ast.ListKind {
		for _, el := range e.AsList().Elements() {
			switch lit := el.AsLiteral(); {
			case lit == nil:
				out = out.Add(elemSize(exprNode{el}))
			case lit.Type() == types.StringType || lit.Type() == types.BytesType:
				out = out.Add(m.size(exprNode{el}).Multiply(twice))
			default:
				out = out.Add(scalar)
			}
		}
	} else {
		out = out.Add(m.size(list).Multiply(elemSize(unknownNode{})))
	}
	cost := f.Add(out).Add(out).MultiplyByCostFactor(traversalFactor)
	return &checker.CallEstimate{CostEstimate: cost, ResultSize: &out}
}

// maxPrecision is the largest precision a format string names (%.Nf).
func maxPrecision(f string) uint64 {
	var most uint64
	for i := 0; i+1 < len(f); i++ {
		if f[i] != '%' || f[i+1] != '.' {
			continue
		}
		var p uint64
		for j := i + 2; j < len(f) && f[j] >= '0' && f[j] <= '9'; j++ {
			p = satAdd(satMul(p, 10), uint64(f[j]-'0'))
		}
		most = max(most, p)
	}
	return most
}

// exprNode is a sub-expression the checker gives no node for (an element of a list literal),
// with the path of a variable's field when it is one, so that the size estimator sizes it.
type exprNode struct{ e ast.Expr }

func (n exprNode) Path() []string {
	switch n.e.Kind() {
	case ast.IdentKind:
		return []string{n.e.AsIdent()}
	case ast.SelectKind:
		sel := n.e.AsSelect()
		if p := (exprNode{sel.Operand()}).Path(); p != nil && !sel.IsTestOnly() {
			return append(p, sel.FieldName())
		}
	}
	return nil
}
func (n exprNode) Type() *types.Type { return types.DynType }
func (n exprNode) Expr() ast.Expr    { return n.e }
func (n exprNode) ComputedSize() *checker.SizeEstimate {
	var sz uint64
	switch lit := n.e.AsLiteral().(type) {
	case types.String:
		sz = uint64(len(lit))
	case types.Bytes:
		sz = uint64(len(lit))
	default:
		return nil
	}
	return &checker.SizeEstimate{Min: sz, Max: sz}
}

// unknownNode is data whose size only the run knows.
type unknownNode struct{}

func (unknownNode) Path() []string                      { return nil }
func (unknownNode) Type() *types.Type                   { return types.DynType }
func (unknownNode) Expr() ast.Expr                      { return nil }
func (unknownNode) ComputedSize() *checker.SizeEstimate { return nil }

// size is the library's size of a node: computed, estimated, or unknown (unbounded).
func (m *costModel) size(n checker.AstNode) checker.SizeEstimate {
	if sz := n.ComputedSize(); sz != nil {
		return *sz
	}
	if sz := m.EstimateSize(n); sz != nil {
		return *sz
	}
	return checker.SizeEstimate{Min: 0, Max: math.MaxUint64}
}

// regexOperands returns the subject and the pattern of a call to matches, find or findAll,
// in member or global form.
func regexOperands(target *checker.AstNode, args []checker.AstNode) (subject, pattern checker.AstNode, ok bool) {
	switch {
	case target != nil && len(args) >= 1:
		return *target, args[0], true
	case target == nil && len(args) == 2:
		return args[0], args[1], true
	}
	return nil, nil, false
}

// searchEstimate is Kubernetes' regex cost shape: ceil(0.1·(1+n)) times the pattern's cost.
func searchEstimate(subject checker.SizeEstimate, pattern checker.CostEstimate) checker.CostEstimate {
	str := subject.Add(checker.SizeEstimate{Min: 1, Max: 1}).MultiplyByCostFactor(traversalFactor)
	return str.Multiply(pattern)
}

// price is a call's cost computed before it runs, and what it would do, for the refusal.
type price struct {
	cost uint64
	what string
}

// pricedCall prices one function: before from the arguments alone (an upper bound of the
// work and output), after (optional) exactly from the result once the call has run. Either
// returns false when the arguments are not of the kind it prices (a list overload of indexOf,
// a dyn value of the wrong type): the library's price then applies.
type pricedCall struct {
	before func(args []ref.Val) (price, bool)
	after  func(args []ref.Val, result ref.Val) (uint64, bool)
}

// pricedCalls are the functions priced by costModel and guarded before they run. The others
// are linear in data that already exists (Kubernetes' post-call charge bounds them) or cost
// a constant.
var pricedCalls = map[string]pricedCall{
	"replace":       {before: replacePrice},
	"split":         {before: splitPrice},
	"join":          {before: joinPrice},
	"format":        {before: formatPrice, after: formatCost},
	"strings.quote": {before: quotePrice, after: quoteCost},
	"charAt":        {before: charAtPrice},
	"indexOf":       {before: indexOfPrice},
	"lastIndexOf":   {before: indexOfPrice},
	"matches":       {before: regexPrice("matches")},
	"find":          {before: regexPrice("find")},
	"findAll":       {before: regexPrice("findAll"), after: findAllCost},
	"lists.range":   {before: rangePrice},
	"flatten":       {before: flattenPrice},
	"sort":          {before: sortPrice(0)},
	"distinct":      {before: sortPrice(0)},
	// sortBy's helper: the keys are the second argument.
	"@sortByAssociatedKeys": {before: sortPrice(1)},
	"sets.contains":         {before: setsPrice(1)},
	"sets.intersects":       {before: setsPrice(1)},
	"sets.equivalent":       {before: setsPrice(2)},
	FuncKStatus:             {before: kstatusPrice},
}

// bytesCost is the traversal cost of n bytes: ceil(0.1·n), saturating.
func bytesCost(n float64) uint64 {
	c := math.Ceil(n * traversalFactor)
	if c >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(c)
}

func str(v ref.Val) (string, bool) {
	s, ok := v.(types.String)
	return string(s), ok
}

// listArg returns the first argument, which must be a list.
func listArg(args []ref.Val) (traits.Lister, bool) {
	if len(args) < 1 {
		return nil, false
	}
	l, ok := args[0].(traits.Lister)
	return l, ok
}

// strs returns the first n arguments, which must be strings.
func strs(args []ref.Val, n int) ([]string, bool) {
	if len(args) < n {
		return nil, false
	}
	out := make([]string, n)
	for i := range out {
		s, ok := str(args[i])
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func intArg(args []ref.Val, i int) (int64, bool) {
	if i >= len(args) {
		return 0, false
	}
	n, ok := args[i].(types.Int)
	return int64(n), ok
}

// replacePrice: two passes over the string (counting, then copying) and the result, whose
// length is known before it is built: each replaced occurrence changes it by len(new)-len(old).
func replacePrice(args []ref.Val) (price, bool) {
	a, ok := strs(args, 3)
	if !ok {
		return price{}, false
	}
	s, old, repl := a[0], a[1], a[2]
	count := float64(strings.Count(s, old)) // "" matches before every rune and at the end
	if n, ok := intArg(args, 3); ok && n >= 0 {
		count = math.Min(count, float64(n))
	}
	out := float64(len(s)) + count*float64(len(repl)-len(old))
	return price{bytesCost(2*float64(len(s)) + out),
		fmt.Sprintf("replace would build a string of %.0f bytes from %d", out, len(s))}, true
}

// splitPrice: two passes over the string and a header per element.
func splitPrice(args []ref.Val) (price, bool) {
	a, ok := strs(args, 2)
	if !ok {
		return price{}, false
	}
	s, sep := a[0], a[1]
	k := float64(strings.Count(s, sep) + 1)
	if sep == "" {
		k -= 2 // "" is counted before each rune and at the end; split returns the runes
	}
	if n, ok := intArg(args, 2); ok && n >= 0 {
		k = math.Min(k, float64(n))
	}
	return price{bytesCost(2*float64(len(s)) + elementBytes*k),
		fmt.Sprintf("split would build a list of %.0f strings from %d bytes", k, len(s))}, true
}

// joinPrice: reading every element and writing the result (the elements and the separators
// between them); a list holding the same long string many times makes a long result.
func joinPrice(args []ref.Val) (price, bool) {
	l, ok := listArg(args)
	if !ok {
		return price{}, false
	}
	sep := ""
	if len(args) >= 2 {
		if sep, ok = str(args[1]); !ok {
			return price{}, false
		}
	}
	k := sizeOf(l)
	var out float64
	for i := range k {
		if s, ok := str(l.Get(types.Int(i))); ok {
			out += float64(len(s))
		}
	}
	if k > 1 {
		out += float64(k-1) * float64(len(sep))
	}
	return price{bytesCost(2*out + elementBytes*float64(k)),
		fmt.Sprintf("join would build a string of %.0f bytes from %d elements", out, k)}, true
}

// quotePrice: reading the string and writing its quoted form, at most 3 bytes per byte (an
// invalid byte becomes U+FFFD) and the quotes.
func quotePrice(args []ref.Val) (price, bool) {
	a, ok := strs(args, 1)
	if !ok || len(args) != 1 {
		return price{}, false
	}
	s := a[0]
	out := 3*float64(len(s)) + 2
	return price{bytesCost(float64(len(s)) + out), fmt.Sprintf("strings.quote would build up to %.0f bytes", out)}, true
}

func quoteCost(args []ref.Val, result ref.Val) (uint64, bool) {
	s, ok1 := str(args[0])
	r, ok2 := str(result)
	if !ok1 || !ok2 {
		return 0, false
	}
	return bytesCost(float64(len(s) + len(r))), true
}

// charAtPrice: the implementation converts the whole string to runes.
func charAtPrice(args []ref.Val) (price, bool) {
	a, ok := strs(args, 1)
	if !ok || len(args) != 2 {
		return price{}, false
	}
	return price{bytesCost(float64(len(a[0]))), fmt.Sprintf("charAt would read %d bytes", len(a[0]))}, true
}

// indexOfPrice: the strings extension converts both strings to runes and compares the needle
// at every position (up to n·m comparisons), priced as Kubernetes prices a regular
// expression of the needle's length. A list receiver is the lists library's (linear).
func indexOfPrice(args []ref.Val) (price, bool) {
	a, ok := strs(args, 2)
	if !ok {
		return price{}, false
	}
	s, sub := a[0], a[1]
	c := satAdd(bytesCost(float64(len(s))), searchCost(len(s), uint64(math.Ceil(float64(len(sub))*regexFactor))))
	return price{c, fmt.Sprintf("searching %d bytes for a needle of %d would compare up to %d·%d characters", len(s), len(sub), len(s), len(sub))}, true
}

// regexPrice prices a regular expression call by its pattern's program size; a pattern
// that does not parse is left to the function, which reports it.
func regexPrice(function string) func(args []ref.Val) (price, bool) {
	return func(args []ref.Val) (price, bool) {
		a, ok := strs(args, 2)
		if !ok {
			return price{}, false
		}
		size, err := patternSize(a[1])
		if err != nil {
			return price{}, false
		}
		return regexCallPrice(function, len(a[0]), len(a[1]), size), true
	}
}

// regexCallPrice is the price of a regular expression call over n bytes, with a pattern of
// patternLen bytes whose program has size instructions.
func regexCallPrice(function string, n, patternLen int, size int64) price {
	return price{searchCost(n, regexCost(size, patternLen)),
		fmt.Sprintf("%s would run a pattern of %d instructions over %d bytes", function, size, n)}
}

// findAllCost adds the headers of the matches findAll returned.
func findAllCost(args []ref.Val, result ref.Val) (uint64, bool) {
	p, ok := regexPrice("findAll")(args)
	if !ok {
		return 0, false
	}
	return satAdd(p.cost, bytesCost(elementBytes*float64(sizeOf(result)))), true
}

// regexCost is the pattern factor of a regular expression's cost: 0.25 per instruction of its
// program or per byte of its text, whichever is larger.
func regexCost(size int64, patternLen int) uint64 {
	return uint64(math.Ceil(float64(max(size, int64(patternLen))) * regexFactor))
}

// searchCost is Kubernetes' regular expression cost: ceil(0.1·(1+n)) times the pattern factor.
func searchCost(n int, pattern uint64) uint64 {
	return satMul(bytesCost(1+float64(n)), pattern)
}

func rangePrice(args []ref.Val) (price, bool) {
	n, ok := intArg(args, 0)
	if !ok || len(args) != 1 {
		return price{}, false
	}
	if n < 0 {
		n = 0
	}
	return price{*listCallCost(uint64(n)), fmt.Sprintf("lists.range would build a list of %d elements", n)}, true
}

// flattenPrice: the list flatten builds (counted up to the limit; nested lists may repeat one
// long list many times), and the extension's own formula.
func flattenPrice(args []ref.Val) (price, bool) {
	l, ok := listArg(args)
	if !ok {
		return price{}, false
	}
	depth := int64(1)
	if d, ok := intArg(args, 1); ok {
		depth = d
	}
	produced := flattenedSize(l, depth, PerCallCostLimit+1)
	ext := sizeOf(l) * uint64(max(depth, 1))
	return price{*listCallCost(max(produced, ext)), fmt.Sprintf("flatten would build a list of %d elements or more", produced)}, true
}

// flattenedSize counts the elements flatten(l, depth) returns, stopping once past limit.
func flattenedSize(l traits.Lister, depth int64, limit uint64) uint64 {
	var n uint64
	it := l.Iterator()
	for it.HasNext() == types.True && n <= limit {
		v := it.Next()
		if nested, ok := v.(traits.Lister); ok && depth > 0 {
			n = satAdd(n, flattenedSize(nested, depth-1, limit-n))
		} else {
			n++
		}
	}
	return n
}

// sortPrice is the lists extension's price of sort and distinct (2·n² for n elements, more
// for strings) on the argument at i, known before the call.
func sortPrice(i int) func(args []ref.Val) (price, bool) {
	return func(args []ref.Val) (price, bool) {
		if len(args) <= i {
			return price{}, false
		}
		if _, ok := args[i].(traits.Lister); !ok {
			return price{}, false
		}
		return price{*selfCompareCost(args[i]), fmt.Sprintf("sorting or deduplicating %d elements", sizeOf(args[i]))}, true
	}
}

// setsPrice is the sets extension's price: factor·n·m comparisons.
func setsPrice(factor uint64) func(args []ref.Val) (price, bool) {
	return func(args []ref.Val) (price, bool) {
		if len(args) != 2 {
			return price{}, false
		}
		a, b := sizeOf(args[0]), sizeOf(args[1])
		return price{satAdd(1, satMul(factor, satMul(a, b))), fmt.Sprintf("comparing lists of %d and %d elements", a, b)}, true
	}
}

// selfCompareCost is the lists extension's cost of sort and distinct: 2·n² (n² comparisons),
// plus a traversal factor for strings.
func selfCompareCost(v ref.Val) *uint64 {
	n := sizeOf(v)
	factor := 2.0
	if l, ok := v.(traits.Lister); ok && n > 0 {
		if t := l.Get(types.IntZero).Type(); t == types.StringType || t == types.BytesType {
			factor += common.StringTraversalCostFactor
		}
	}
	c := uint64(math.MaxUint64)
	if f := float64(n) * float64(n) * factor; f < math.MaxUint64 {
		c = uint64(f)
	}
	return listCallCost(c)
}

func listCallCost(size uint64) *uint64 {
	c := satAdd(size, 1+common.ListCreateBaseCost)
	return &c
}

func sizeOf(v ref.Val) uint64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
		return 0
	}
	return 1
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// patternSize returns the size of a regular expression's program in instructions, counted
// as Go's regexp/syntax counts it to enforce its own limit (calcSize in parse.go):
// repetitions expanded, star taken as two instructions. It parses the pattern, which is
// linear in its length, and does not compile it (compiling expands the repetitions). Sizes
// are cached for the patterns of a bounded number of calls.
func patternSize(p string) (int64, error) {
	if n, ok := patternSizes.get(p); ok {
		return n, nil
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return 0, err
	}
	n := syntaxSize(re)
	patternSizes.put(p, n)
	return n, nil
}

func syntaxSize(re *syntax.Regexp) int64 {
	var size int64
	switch re.Op {
	case syntax.OpLiteral:
		size = int64(len(re.Rune))
	case syntax.OpCapture, syntax.OpStar:
		size = 2 + syntaxSize(re.Sub[0])
	case syntax.OpPlus, syntax.OpQuest:
		size = 1 + syntaxSize(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			size += syntaxSize(sub)
		}
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			size += syntaxSize(sub)
		}
		if len(re.Sub) > 1 {
			size += int64(len(re.Sub)) - 1
		}
	case syntax.OpRepeat:
		sub := syntaxSize(re.Sub[0])
		if re.Max == -1 {
			if re.Min == 0 {
				size = 2 + sub
			} else {
				size = 1 + int64(re.Min)*sub
			}
			break
		}
		size = int64(re.Max)*sub + int64(re.Max-re.Min)
	}
	return max(1, size)
}

// sizeCache holds the program sizes of recent patterns: at most maxCachedPatterns of at
// most maxCachedPatternBytes each; when full it starts over.
type sizeCache struct {
	mu sync.Mutex
	m  map[string]int64
}

const (
	maxCachedPatterns     = 1024
	maxCachedPatternBytes = 4096
)

var patternSizes sizeCache

func (c *sizeCache) get(p string) (int64, bool) {
	if len(p) > maxCachedPatternBytes {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[p]
	return n, ok
}

func (c *sizeCache) put(p string, n int64) {
	if len(p) > maxCachedPatternBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedPatterns {
		c.m = make(map[string]int64, maxCachedPatterns)
	}
	c.m[p] = n
}

// formatPrice bounds what `format` writes before it runs, following the strings extension's
// parser (parseFormatString): the text, one byte per "%%", and for each clause the largest
// text its verb can make of its argument (precision included). The bound stops growing once
// past the limit.
func formatPrice(args []ref.Val) (price, bool) {
	if len(args) != 2 {
		return price{}, false
	}
	f, ok1 := str(args[0])
	list, ok2 := args[1].(traits.Lister)
	if !ok1 || !ok2 {
		return price{}, false
	}
	limit := uint64(float64(PerCallCostLimit) / traversalFactor)
	out := formatSize(f, list, limit)
	return price{bytesCost(float64(len(f)) + 2*float64(out)), fmt.Sprintf("format would build up to %d bytes", out)}, true
}

// formatCost is the price of the text format built: reading the format and the arguments,
// writing the result.
func formatCost(args []ref.Val, result ref.Val) (uint64, bool) {
	f, ok1 := str(args[0])
	r, ok2 := str(result)
	if !ok1 || !ok2 {
		return 0, false
	}
	return bytesCost(float64(len(f)) + 2*float64(len(r))), true
}

// Bounds of formatted scalars: an integer with thousands separators; a double in fixed
// notation before its precision (309 digits, separators, sign and point); anything short.
const (
	formattedInt           = 32
	formattedDouble        = 440
	formattedShort         = 64
	defaultFormatPrecision = 6
)

func formatSize(f string, args traits.Lister, limit uint64) uint64 {
	var n uint64
	argc := int64(sizeOf(args))
	next := int64(0)
	for i := 0; i < len(f) && n <= limit; i++ {
		if f[i] != '%' {
			n++
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			n++
			i++
			continue
		}
		j := i + 1
		precision := uint64(defaultFormatPrecision)
		if j < len(f) && f[j] == '.' {
			j++
			start := j
			for j < len(f) && f[j] >= '0' && f[j] <= '9' {
				j++
			}
			precision = 0
			for _, d := range f[start:j] {
				precision = satAdd(satMul(precision, 10), uint64(d-'0'))
			}
		}
		if j >= len(f) || next >= argc {
			break // the function reports the error
		}
		arg := args.Get(types.Int(next))
		next++
		i = j
		switch f[j] {
		case 's':
			n = satAdd(n, valueSize(arg, false, limit-min(n, limit)))
		case 'f', 'e':
			n = satAdd(n, satAdd(formattedDouble, precision))
		case 'x', 'X':
			if s, ok := arg.(types.String); ok {
				n = satAdd(n, 2*uint64(len(s)))
			} else if b, ok := arg.(types.Bytes); ok {
				n = satAdd(n, 2*uint64(len(b)))
			} else {
				n = satAdd(n, formattedShort)
			}
		default: // d, b, o and the verbs the function refuses
			n = satAdd(n, formattedShort)
		}
	}
	return n
}

// valueSize bounds the text %s makes of v: a string or bytes as is (quoted and escaped, up
// to 4 bytes per byte, inside a list or map), a list or map in brackets with separators,
// scalars short. It stops once past limit.
func valueSize(v ref.Val, nested bool, limit uint64) uint64 {
	switch x := v.(type) {
	case types.String:
		if nested {
			return 4*uint64(len(x)) + 2
		}
		return uint64(len(x))
	case types.Bytes:
		if nested {
			return 4*uint64(len(x)) + 2
		}
		return uint64(len(x))
	case traits.Mapper:
		n := uint64(2)
		it := x.Iterator()
		for it.HasNext() == types.True && n <= limit {
			k := it.Next()
			n = satAdd(n, satAdd(4, valueSize(k, true, limit-n)))
			if n <= limit {
				n = satAdd(n, valueSize(x.Get(k), true, limit-n))
			}
		}
		return n
	case traits.Lister:
		n := uint64(2)
		it := x.Iterator()
		for it.HasNext() == types.True && n <= limit {
			n = satAdd(n, satAdd(2, valueSize(it.Next(), true, limit-n)))
		}
		return n
	case types.Double:
		return formattedDouble + defaultFormatPrecision
	}
	return formattedShort
}

// refusal is the panic of a call refused before it ran, whose price p would have taken the
// prices of the evaluation's calls to total: cel-go turns it into the evaluation's error, as
// it does when the tracked cost passes the limit.
func refusal(p price, total uint64) interpreter.EvalCancelledError {
	msg := fmt.Sprintf("%s%s (cost %d)", refusalPrefix, p.what, p.cost)
	if total != p.cost {
		msg += fmt.Sprintf(", the evaluation's calls would cost %d", total)
	}
	return interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded, Message: msg}
}

// refusalPrefix starts the message of a refused call.
const refusalPrefix = "refused before it ran: "

// Refusal returns what a call refused by the cost guard would have done, and its price,
// when err is that refusal.
func Refusal(err interpreter.EvalCancelledError) (string, bool) {
	if err.Cause != interpreter.CostLimitExceeded || !strings.HasPrefix(err.Message, refusalPrefix) {
		return "", false
	}
	return strings.TrimPrefix(err.Message, refusalPrefix), true
}
