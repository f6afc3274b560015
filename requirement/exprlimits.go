package requirement

import (
	"fmt"
	"strconv"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/internal/celenv"
)

// expressionsWithinLimits counts the distinct CEL expressions of the requirements documents
// and their bytes, before any is compiled, and reports the first expression past
// Limits.MaxExpressions or Limits.MaxExpressionBytes: compiling is the costly part of a
// load (a 4 MiB spec of 73,776 distinct expressions took 61 s and 4.8 GB), so a spec over
// the limits is refused without compiling anything. It walks the same fields decoding
// compiles (when, condition.expr, condition.bool_expr), whatever else is wrong with them.
func (l *loader) expressionsWithinLimits(docs []*document) bool {
	type past struct {
		d      *document
		tokens []string
	}
	seen := map[exprKey]bool{}
	count, size := 0, 0
	var pastCount, pastBytes *past
	add := func(d *document, tokens []string, v any, scope analyzer.Scope) {
		src, ok := v.(string)
		k := exprKey{src, scope}
		if !ok || seen[k] || tooLong(src) {
			return
		}
		seen[k] = true
		count++
		size += compileWeight(src)
		if count > l.limits.MaxExpressions && pastCount == nil {
			pastCount = &past{d, tokens}
		}
		if size > l.limits.MaxExpressionBytes && pastBytes == nil {
			pastBytes = &past{d, tokens}
		}
	}
	for _, d := range docs {
		list, _ := d.value.(map[string]any)["custom_requirements"].([]any)
		for i, item := range list {
			m, _ := item.(map[string]any)
			at := []string{"custom_requirements", strconv.Itoa(i)}
			add(d, with(at, "when"), m["when"], analyzer.ScopeWhen)
			results, _ := m["results"].([]any)
			for j, r := range results {
				rm, _ := r.(map[string]any)
				cm, _ := rm["condition"].(map[string]any)
				for _, key := range []string{"expr", "bool_expr"} {
					add(d, with(at, "results", strconv.Itoa(j), "condition", key), cm[key], analyzer.ScopeCondition)
				}
			}
		}
	}
	const why = "every distinct expression is compiled when the spec loads; split the spec into smaller ones run one after the other, or reuse the same expression text where the checks are the same"
	if pastCount != nil {
		l.problem(pastCount.d.loc(pastCount.tokens, atValue), fmt.Sprintf(
			"the spec has %d distinct CEL expressions, more than %d (the limit, Limits.MaxExpressions); %s",
			count, l.limits.MaxExpressions, why))
	}
	if pastBytes != nil {
		l.problem(pastBytes.d.loc(pastBytes.tokens, atValue), fmt.Sprintf(
			"the spec's distinct CEL expressions count %d bytes together, more than %d (the limit, Limits.MaxExpressionBytes; an expression longer than %d bytes counts its length times its length over %d); %s",
			size, l.limits.MaxExpressionBytes, quadraticFrom, quadraticFrom, why))
	}
	return pastCount == nil && pastBytes == nil
}

// compileWeight is what an expression counts against Limits.MaxExpressionBytes: its length,
// times its length over 256 when it is longer, as the type checker's work grows with the
// square of an expression's length (chains of filter and map comprehensions take 24 ms to
// check at 1 KiB, 24 µs a byte, and 1.2 s at 8 KiB, 150 µs a byte).
func compileWeight(src string) int {
	if n := len(src); n > quadraticFrom {
		return n * n / quadraticFrom
	}
	return len(src)
}

// quadraticFrom is the length from which compileWeight grows with the square of the length.
const quadraticFrom = 256

// tooLong reports whether src is longer than one expression may be: the compiler refuses it
// before parsing it, at no cost, so it does not count against the limits (its own problem
// says what is wrong).
func tooLong(src string) bool { return len(src) > celenv.MaxExpressionBytes }
