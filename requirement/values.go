package requirement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/gotype"
	"github.com/preflightkit/preflight/internal/specschema"
)

// Values in command data: any key K of a command's data, at any depth, may be given instead
// as K_expr, a CEL expression over the variables of `when` whose value is used for K when the
// requirement runs. The loader compiles each one, checks its type against K's Go type (what
// the command's DataType declares), refuses K and K_expr together, and checks what is written
// out of the data as far as it can without the values. Any classic template ({{ ... }}) in a
// string of the data is refused: it would reach the command as written.

// exprSuffix marks a data key given as CEL.
const exprSuffix = "_expr"

// dataValue is one K_expr key of a command's data.
type dataValue struct {
	path []string // K's tokens under data
	key  string   // "data.addr_expr", for messages
	expr *analyzer.Expression
}

// anyType is the type of a value whose type nothing declares.
var anyType = reflect.TypeOf((*any)(nil)).Elem()

// child is what the loader knows of the value under key in a value of type t.
type child struct {
	typ   reflect.Type // nil: any JSON
	tag   string       // the field's expr tag
	known bool         // the key may be there
	names []string     // the keys a struct declares, when known is false
}

func childOf(t reflect.Type, key string) child {
	if gotype.Opaque(t) {
		return child{known: true}
	}
	t = gotype.Deref(t)
	switch t.Kind() {
	case reflect.Struct:
		f, ok := gotype.Lookup(t, key)
		if !ok {
			return child{names: gotype.Names(t)}
		}
		return child{typ: f.Type, tag: f.Tag.Get("expr"), known: true}
	case reflect.Map:
		return child{typ: t.Elem(), known: true}
	}
	return child{}
}

// elemOf is the type of the elements of a list of type t (nil: any JSON).
func elemOf(t reflect.Type) reflect.Type {
	if gotype.Opaque(t) {
		return nil
	}
	t = gotype.Deref(t)
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		return t.Elem()
	}
	return nil
}

// exprTypes returns the Go types a K_expr may have for a field of type t with expr tag tag;
// allowed is false when the tag forbids an expression.
func exprTypes(t reflect.Type, tag string) (types []reflect.Type, allowed bool, err error) {
	if tag == "-" {
		return nil, false, nil
	}
	if tag == "" {
		if t == nil {
			t = anyType
		}
		return []reflect.Type{t}, true, nil
	}
	for _, part := range strings.Split(tag, "|") {
		pt, err := tagType(strings.TrimSpace(part))
		if err != nil {
			return nil, true, err
		}
		types = append(types, pt)
	}
	return types, true, nil
}

// tagType reads one type of an expr tag: string, int, bool, double, any, list(T) or map(T).
func tagType(s string) (reflect.Type, error) {
	switch s {
	case "string":
		return reflect.TypeOf(""), nil
	case "int":
		return reflect.TypeOf(int64(0)), nil
	case "bool":
		return reflect.TypeOf(false), nil
	case "double":
		return reflect.TypeOf(0.0), nil
	case "any":
		return anyType, nil
	}
	for _, c := range []struct {
		prefix string
		make   func(reflect.Type) reflect.Type
	}{
		{"list(", reflect.SliceOf},
		{"map(", func(e reflect.Type) reflect.Type { return reflect.MapOf(reflect.TypeOf(""), e) }},
	} {
		if inner, ok := strings.CutPrefix(s, c.prefix); ok && strings.HasSuffix(inner, ")") {
			e, err := tagType(strings.TrimSuffix(inner, ")"))
			if err != nil {
				return nil, err
			}
			return c.make(e), nil
		}
	}
	return nil, fmt.Errorf("unknown type %q in an expr tag (want string, int, bool, double, any, list(T) or map(T))", s)
}

// valueWalk walks a command's data: it collects the K_expr keys, refuses templates, and
// builds the data without the K_expr keys.
type valueWalk struct {
	l      *loader
	d      *document
	data   []string // tokens of the command's data
	values []dataValue
	failed bool
}

// walk returns v without its K_expr keys (a copy); t is v's Go type (nil: any), rel its
// tokens under data.
func (w *valueWalk) walk(v any, t reflect.Type, rel []string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if base, ok := isExprKey(t, k); ok {
				w.value(x, k, base, t, rel)
				continue
			}
			out[k] = w.walk(x[k], childOf(t, k).typ, with(rel, k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		et := elemOf(t)
		for i, e := range x {
			out[i] = w.walk(e, et, with(rel, strconv.Itoa(i)))
		}
		return out
	case string:
		if action.MatchString(x) {
			w.failed = true
			w.l.problem(w.d.loc(with(w.data, rel...), atValue), dataTemplateMessage(w.d.value, with(w.data, rel...), x, false))
		}
	}
	return v
}

// isExprKey reports whether key, in a value of type t, is K_expr, and returns K: every key
// ending in _expr is, except a field a struct declares under that very name.
func isExprKey(t reflect.Type, key string) (string, bool) {
	base, ok := strings.CutSuffix(key, exprSuffix)
	if !ok || base == "" {
		return "", false
	}
	if !gotype.Opaque(t) && gotype.Deref(t).Kind() == reflect.Struct {
		if _, literal := gotype.Lookup(t, key); literal {
			return "", false
		}
	}
	return base, true
}

// value loads the K_expr key of m, whose type is t.
func (w *valueWalk) value(m map[string]any, key, base string, t reflect.Type, rel []string) {
	at := with(w.data, with(rel, key)...)
	fail := func(anchor anchor, msg string) {
		w.failed = true
		w.l.problem(w.d.loc(at, anchor), msg)
	}
	if _, both := m[base]; both {
		fail(atKey, fmt.Sprintf("give %s or %s, not both: %s is CEL whose value is used for %s", base, key, key, base))
		return
	}
	c := childOf(t, base)
	if !c.known {
		msg := fmt.Sprintf("%s sets %s, which is not a field here", key, base)
		if s := specschema.Suggest(base, c.names); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s+exprSuffix)
		}
		if len(c.names) > 0 {
			msg += " (known fields: " + strings.Join(c.names, ", ") + ")"
		}
		fail(atKey, msg)
		return
	}
	types, allowed, err := exprTypes(c.typ, c.tag)
	switch {
	case !allowed:
		fail(atKey, fmt.Sprintf("%s cannot be given as an expression: write %s out (the spec must show it as it is)", base, base))
		return
	case err != nil:
		fail(atKey, fmt.Sprintf("the command declares %s wrongly: %v", base, err))
		return
	}
	src, ok := m[key].(string)
	if !ok {
		fail(atValue, fmt.Sprintf("must be a CEL expression (a string) whose value is used for %s, such as 'vars.%s'", base, base))
		return
	}
	e := w.l.valueExpr(w.d, at, src, analyzer.ScopeWhen, types)
	if e == nil {
		w.failed = true
		return
	}
	w.values = append(w.values, dataValue{path: with(rel, base), key: fieldPath(with([]string{"data"}, with(rel, key)...)), expr: e})
}

// fieldPath renders tokens as a field path: data.kubernetes.pod.spec.containers[0].image.
func fieldPath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

// dataValues loads the K_expr keys and checks the strings of a command's data. It returns the
// values, the data without them, and false when the data has a problem it reported.
func (l *loader) dataValues(d *document, tokens []string, data any, impl command.Command) ([]dataValue, any, bool) {
	var t reflect.Type
	if dd, ok := impl.(command.DataDescriber); ok {
		t = dd.DataType()
	}
	w := &valueWalk{l: l, d: d, data: tokens}
	static := w.walk(data, t, nil)
	return w.values, static, !w.failed
}

// related reports whether the paths a and b are the same or one holds the other.
func related(a, b []string) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// precheck prepares the command with the data it has at load, without its K_expr keys, and
// reports the problems that the missing values cannot explain: those at a path unrelated to
// every K_expr key (a problem of a key's parent may come from the key's absence; the command
// checks it again when the requirement runs, with the values).
func (l *loader) precheck(d *document, tokens []string, c *Command, static any) {
	raw, err := json.Marshal(static)
	if err != nil {
		return
	}
	_, err = prepare(c.impl, raw, command.SpecContext{Pods: l.pods})
	if err == nil {
		return
	}
	for _, e := range dataErrors(err) {
		var fe *field.Error
		if !errors.As(e, &fe) {
			continue // at data: related to every key
		}
		at := fieldTokens(fe.Field)
		if len(at) == 0 || at[0] != "data" {
			continue
		}
		skip := false
		for _, v := range c.values {
			if related(at[1:], v.path) {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		msg := fe.Detail
		if fe.Type == field.ErrorTypeRequired {
			msg = "required: " + msg
		}
		l.problem(d.loc(with(tokens, at[1:]...), atValue), fmt.Sprintf("command %s: %s", c.ID, msg))
	}
}

// Expressions returns the compiled K_expr keys of the command's data, in the order of their
// keys; nil when the data is static. The runner evaluates them (through Resolve) when the
// requirement runs; a caller may inspect them (UsesCluster, Source).
func (c *Command) Expressions() []*analyzer.Expression {
	if len(c.values) == 0 {
		return nil
	}
	out := make([]*analyzer.Expression, len(c.values))
	for i, v := range c.values {
		out[i] = v.expr
	}
	return out
}

// Resolve returns what runs for the command: Prepared when the data is static; otherwise the
// command prepared on its data with the value of each K_expr key, evaluated under c (vars, app,
// phase, cluster and results, as for `when`), in place of K. An expression that fails or
// whose value does not fit K, and data the command's Prepare refuses, are errors naming the
// key: the requirement then fails, it never passes. spec is what the command sees of the
// spec (its pod templates).
func (c *Command) Resolve(ctx context.Context, ac *analyzer.Context, spec command.SpecContext) (command.Prepared, error) {
	if len(c.values) == 0 {
		if c.Prepared == nil {
			return nil, fmt.Errorf("command %q was not prepared (load the spec with requirement.Load)", c.ID)
		}
		return c.Prepared, nil
	}
	data := deepCopy(c.static)
	for _, v := range c.values {
		val, err := v.expr.Value(ctx, ac, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.key, err)
		}
		if !setAt(data, v.path, val) {
			return nil, fmt.Errorf("%s: the data has no place for its value", v.key)
		}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("command %s: encoding the data: %w", c.ID, err)
	}
	p, err := prepare(c.impl, raw, spec)
	if err != nil {
		return nil, c.resolveError(err)
	}
	return p, nil
}

// resolveError says what the command refused in the data it got at run time, naming the
// K_expr key a problem comes from.
func (c *Command) resolveError(err error) error {
	var msgs []string
	for _, e := range dataErrors(err) {
		var fe *field.Error
		if !errors.As(e, &fe) {
			msgs = append(msgs, e.Error())
			continue
		}
		at := fieldTokens(fe.Field)
		where := fe.Field
		for _, v := range c.values {
			if len(at) > 1 && related(at[1:], v.path) {
				where += " (from " + v.key + ")"
				break
			}
		}
		msg := fe.Detail
		if fe.Type == field.ErrorTypeRequired {
			msg = "required: " + msg
		}
		msgs = append(msgs, where+": "+msg)
	}
	return fmt.Errorf("command %s refused the data computed from its _expr keys: %s: %w", c.ID, strings.Join(msgs, "; "), err)
}

// deepCopy copies JSON data.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// setAt sets the value at path (map keys and list indexes) in data; the parent must exist.
func setAt(data any, path []string, val any) bool {
	if len(path) == 0 {
		return false
	}
	m, ok := specschema.ValueAt(data, path[:len(path)-1]).(map[string]any)
	if !ok {
		return false
	}
	m[path[len(path)-1]] = val
	return true
}
