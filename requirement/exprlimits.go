package requirement

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/celenv"
)

// expressionsWithinLimits counts the distinct CEL expressions of the requirements documents
// and their weight, before any is compiled, and reports the first expression past
// Limits.MaxExpressions or Limits.MaxExpressionBytes: compiling is the costly part of a
// load (a 4 MiB spec of 73,776 distinct expressions took 61 s and 4.8 GB), so a spec over
// the limits is refused without compiling anything. It walks every field decoding compiles
// (when; a result's condition.expr, condition.bool_expr and message_expr; the K_expr keys of
// command data), whatever else is wrong with them, and tells expressions apart as the
// compiler's cache does (text, scope, and the type of a value), so that it counts at least
// what will be compiled.
func (l *loader) expressionsWithinLimits(docs []*document) bool {
	type past struct {
		d      *document
		tokens []string
	}
	seen := map[exprKey]bool{}
	count, size := 0, 0
	var pastCount, pastBytes *past
	add := func(d *document, tokens []string, v any, k exprKey) {
		src, ok := exprSource(v)
		k.src = src
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
			add(d, with(at, "when"), m["when"], exprKey{scope: analyzer.ScopeWhen})
			cm, _ := m["command"].(map[string]any)
			scope := analyzer.ScopeCondition
			if l.secretValues(cm) {
				scope = analyzer.ScopeSecretsCondition
			}
			results, _ := m["results"].([]any)
			for j, r := range results {
				rm, _ := r.(map[string]any)
				res := with(at, "results", strconv.Itoa(j))
				if src, ok := rm["message_expr"].(string); ok {
					add(d, with(res, "message_expr"), src, exprKey{scope: scope, types: "message"})
				}
				cond, _ := rm["condition"].(map[string]any)
				for _, key := range []string{"expr", "bool_expr"} {
					add(d, with(res, "condition", key), cond[key], exprKey{scope: scope})
				}
			}
			id, _ := cm["id"].(string)
			dataValueKeys(cm["data"], with(at, "command", "data"), "data."+id, func(tokens []string, src, field string) {
				add(d, tokens, src, exprKey{scope: analyzer.ScopeWhen, types: field})
			})
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

// dataValueKeys calls found for every string under a key ending in _expr in a command's data
// v (at tokens), with the field it sets (field and the keys above it, without list indexes:
// the field gives the value's type, and so the compilation). It counts every such key, even
// one a command declares as a plain field of that name: counting more is safe.
func dataValueKeys(v any, tokens []string, field string, found func(tokens []string, src, field string)) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) { // sorted: the problem's place is stable
			e := x[k]
			if base, ok := strings.CutSuffix(k, exprSuffix); ok && base != "" {
				if src, ok := e.(string); ok {
					found(with(tokens, k), src, field+"."+base)
					continue
				}
			}
			dataValueKeys(e, with(tokens, k), field+"."+k, found)
		}
	case []any:
		for i, e := range x {
			dataValueKeys(e, with(tokens, strconv.Itoa(i)), field, found)
		}
	}
}

// secretValues reports whether the command of a requirement (its map in the spec) reads the
// values of Secrets, which puts the requirement's conditions in another scope.
func (l *loader) secretValues(cm map[string]any) bool {
	id, _ := cm["id"].(string)
	impl, ok := l.reg.Lookup(id)
	if !ok {
		return false
	}
	var data json.RawMessage
	if v, ok := cm["data"]; ok {
		data, _ = json.Marshal(v)
	}
	return readsSecretValues(impl, data)
}

// readsSecretValues reports whether impl, with data, reads the values of Secrets.
func readsSecretValues(impl command.Command, data json.RawMessage) bool {
	s, ok := impl.(interface{ ReadsSecretValues(json.RawMessage) bool })
	return ok && s.ReadsSecretValues(data)
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
