package analyzer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/preflightkit/preflight/internal/gotype"
)

// Value expressions: a command's `K_expr` data keys and a result's `message_expr`. Their
// value is data, of a type the caller declares as Go types (those of the command's data
// struct): a string, an integer, a bool, a number, a list or a map of those, an object, or
// anything (an interface or json.RawMessage).

// CompileValue parses and type-checks src for scope as an expression whose value is data of
// one of the Go types in types (at least one): its checked type must be assignable to one of
// them, or dyn (a value from vars or output), which Value checks when it evaluates. Its error,
// when not nil, is an *ExprError, as for Compile.
func CompileValue(src string, scope Scope, types ...reflect.Type) (*Expression, error) {
	if len(types) == 0 {
		return nil, errors.New("compiling a CEL value expression: no type given")
	}
	return compileAs(src, scope, types)
}

// Value evaluates a value expression (see CompileValue) and returns its value as JSON data:
// string, int64, float64, bool, nil, []any or map[string]any. A value that is none of the
// declared types (a dyn that turned out to be a string where an integer is wanted) is an
// error that names both types and never quotes the value, which may be a secret. Like Eval,
// it runs under the per-call cost limit and c's Budget. in is nil for an expression in
// ScopeWhen.
func (e *Expression) Value(ctx context.Context, c *Context, in *Input) (any, error) {
	if e == nil || e.impl.want == nil {
		return nil, errors.New("not a value expression: compile it with CompileValue")
	}
	val, err := e.evalRef(ctx, &activation{c: c, in: in})
	if err != nil {
		return nil, err
	}
	v, err := native(val, 0)
	if err != nil {
		return nil, err
	}
	var mismatch error
	for _, t := range e.impl.want {
		if mismatch = fits(v, t, ""); mismatch == nil {
			return v, nil
		}
	}
	if len(e.impl.want) > 1 {
		return nil, fmt.Errorf("the value is %s, not %s", kindOf(v), describeTypes(e.impl.want))
	}
	return nil, mismatch
}

// maxValueDepth bounds the nesting of a value converted to data.
const maxValueDepth = 64

// native converts a CEL value to JSON data.
func native(v ref.Val, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("the value is nested more than %d levels deep", maxValueDepth)
	}
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("the value %d is out of the range of an integer", uint64(x))
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Null:
		return nil, nil
	case types.Bytes:
		return nil, errors.New("the value is bytes, which data cannot hold: convert it with string(...)")
	case types.Duration, types.Timestamp:
		return nil, fmt.Errorf("the value is a %s, which data cannot hold: convert it with string(...)", v.Type().TypeName())
	case *types.Err:
		return nil, x
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key is %s; data maps have string keys", k.Type().TypeName())
			}
			ev, err := native(m.Get(k), depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", string(ks), err)
			}
			out[string(ks)] = ev
		}
		return out, nil
	}
	if l, ok := v.(traits.Lister); ok {
		n, _ := l.Size().(types.Int)
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			ev, err := native(l.Get(i), depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, ev)
		}
		return out, nil
	}
	return nil, fmt.Errorf("the value is a %s, which data cannot hold", v.Type().TypeName())
}

// fits checks that the data v can be decoded into t; at names the element for messages.
func fits(v any, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		t = t.Elem()
	}
	if gotype.Opaque(t) {
		return nil
	}
	bad := func() error {
		where := ""
		if at != "" {
			where = at + ": "
		}
		return fmt.Errorf("%sthe value is %s, not %s", where, kindOf(v), gotype.Describe(t))
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := v.(int64); !ok {
			return bad()
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			return bad()
		}
	case reflect.Slice, reflect.Array:
		l, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range l {
			if err := fits(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := fits(m[k], t.Elem(), fmt.Sprintf("%s[%q]", at, k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	}
	return nil
}

// kindOf names the kind of a data value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a double"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}

// celType is the CEL type of values decoded into t.
func celType(t reflect.Type) *cel.Type {
	if gotype.Opaque(t) {
		return cel.DynType
	}
	t = gotype.Deref(t)
	switch t.Kind() {
	case reflect.String:
		return cel.StringType
	case reflect.Bool:
		return cel.BoolType
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cel.IntType
	case reflect.Float32, reflect.Float64:
		return cel.DoubleType
	case reflect.Slice, reflect.Array:
		return cel.ListType(celType(t.Elem()))
	case reflect.Map:
		return cel.MapType(cel.StringType, celType(t.Elem()))
	case reflect.Struct:
		return cel.MapType(cel.StringType, cel.DynType)
	}
	return cel.DynType
}

// assignable reports whether a checked type got can be one of want: dyn always can (Value
// checks it), a double field takes an int too, and a list or map whose elements are dyn takes
// any elements.
func assignable(want []reflect.Type, got *cel.Type) bool {
	for _, w := range want {
		if mayAssign(celType(w), got) {
			return true
		}
	}
	return false
}

// mayAssign reports whether a value of type got may be stored as want: dyn on either side
// (at any depth) is left to the check at run time.
func mayAssign(want, got *cel.Type) bool {
	switch {
	case got.IsExactType(cel.DynType) || want.IsExactType(cel.DynType):
		return true
	case want.IsExactType(cel.DoubleType) && got.IsExactType(cel.IntType):
		return true
	case want.Kind() != got.Kind():
		return false
	case want.Kind() == types.ListKind || want.Kind() == types.MapKind:
		wp, gp := want.Parameters(), got.Parameters()
		if len(wp) != len(gp) {
			return false
		}
		for i := range wp {
			if !mayAssign(wp[i], gp[i]) {
				return false
			}
		}
		return true
	}
	return want.IsAssignableType(got)
}

// describeTypes names the types a value may have: "a string", "an integer or a string".
func describeTypes(ts []reflect.Type) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = gotype.Describe(t)
	}
	return strings.Join(names, " or ")
}

// exampleOf is an expression of type t, for messages.
func exampleOf(t reflect.Type) string {
	switch celType(t).String() {
	case "string":
		return `vars.data_dir`
	case "int":
		return `int(vars.port)`
	case "bool":
		return `vars.enabled == "true"`
	case "list(string)":
		return `["test", "-d", vars.data_dir]`
	case "map(string, string)":
		return `{"Authorization": "Bearer " + vars.token}`
	}
	return `vars.value`
}

// conversionHint suggests the conversion from got to the first wanted scalar type.
func conversionHint(want []reflect.Type, got *cel.Type) string {
	for _, w := range want {
		switch ct := celType(w); {
		case ct.IsExactType(cel.StringType) && (got.IsExactType(cel.IntType) || got.IsExactType(cel.DoubleType) || got.IsExactType(cel.BoolType)):
			return ": convert it with string(...)"
		case ct.IsExactType(cel.IntType) && (got.IsExactType(cel.StringType) || got.IsExactType(cel.DoubleType)):
			return ": convert it with int(...)"
		}
	}
	return ""
}
