package analyzer_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
)

var (
	stringT     = reflect.TypeOf("")
	intT        = reflect.TypeOf(0)
	floatT      = reflect.TypeOf(0.0)
	boolT       = reflect.TypeOf(false)
	stringsT    = reflect.TypeOf([]string(nil))
	stringMapT  = reflect.TypeOf(map[string]string(nil))
	rawT        = reflect.TypeOf(json.RawMessage(nil))
	objectT     = reflect.TypeOf(struct{ A string }{})
	stringPtrT  = reflect.TypeOf((*string)(nil))
	intsOfMapsT = reflect.TypeOf([]map[string]int(nil))
)

func TestCompileValueTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		scope   analyzer.Scope
		types   []reflect.Type
		wantErr string // "" compiles
	}{
		{name: "string", src: `vars.host + ":5432"`, types: []reflect.Type{stringT}},
		{name: "dyn for a string is checked at run", src: `vars.host`, types: []reflect.Type{stringT}},
		{name: "namespace", src: `app.namespace`, types: []reflect.Type{stringT}},
		{name: "namespace is reserved by CEL", src: `namespace`, types: []reflect.Type{stringT}, wantErr: "reserved identifier: namespace"},
		{name: "int for a string", src: `1 + 2`, types: []reflect.Type{stringT}, wantErr: "must evaluate to a string, got int: convert it with string(...)"},
		{name: "string for an int", src: `"8080"`, types: []reflect.Type{intT}, wantErr: "must evaluate to an integer, got string: convert it with int(...)"},
		{name: "union takes either", src: `"8080"`, types: []reflect.Type{intT, stringT}},
		{name: "union refuses a list", src: `[8080]`, types: []reflect.Type{intT, stringT}, wantErr: "must evaluate to an integer or a string, got list(int)"},
		{name: "list of strings", src: `["test", "-d", string(vars.dir)]`, types: []reflect.Type{stringsT}},
		{name: "list of dyn", src: `vars.argv`, types: []reflect.Type{stringsT}},
		{name: "mixed list literal", src: `["test", vars.dir]`, types: []reflect.Type{stringsT}, wantErr: "expected type 'string' but found 'dyn'"},
		{name: "list of ints for strings", src: `[1, 2]`, types: []reflect.Type{stringsT}, wantErr: "must evaluate to an array of strings, got list(int)"},
		{name: "map of strings", src: `{"A": "b"}`, types: []reflect.Type{stringMapT}},
		{name: "map of dyn", src: `{"A": vars.a}`, types: []reflect.Type{stringMapT}},
		{name: "bool", src: `phase == "upgrade"`, types: []reflect.Type{boolT}},
		{name: "int for a double", src: `2`, types: []reflect.Type{floatT}},
		{name: "anything for raw", src: `{"a": [1]}`, types: []reflect.Type{rawT}},
		{name: "object", src: `{"A": "x"}`, types: []reflect.Type{objectT}},
		{name: "object is not a string", src: `{"A": "x"}`, types: []reflect.Type{stringT}, wantErr: "must evaluate to a string, got map(string, string)"},
		{name: "pointer to string", src: `"x"`, types: []reflect.Type{stringPtrT}},
		{name: "condition variable in a value", src: `stdout`, types: []reflect.Type{stringT}, wantErr: "undeclared reference to 'stdout'"},
		{name: "message reads stdout", src: `"got " + stdout`, scope: analyzer.ScopeCondition, types: []reflect.Type{stringT}},
		{name: "base64 needs the opt-in", src: `string(base64.decode(output.data.x))`, scope: analyzer.ScopeCondition, types: []reflect.Type{stringT}, wantErr: "undeclared reference to 'base64'"},
		{name: "base64 with the opt-in", src: `string(base64.decode(output.data.x))`, scope: analyzer.ScopeSecretsCondition, types: []reflect.Type{stringT}},
		{name: "empty", src: ` `, types: []reflect.Type{stringT}, wantErr: "expression is empty: write a CEL expression whose value is a string, such as vars.data_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scope := tt.scope
			e, err := analyzer.CompileValue(tt.src, scope, tt.types...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, e)
				return
			}
			require.Error(t, err)
			var xe *analyzer.ExprError
			require.ErrorAs(t, err, &xe)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	c := &analyzer.Context{
		Vars: map[string]any{
			"host": "db", "port": "5432", "n": int64(3), "list": []any{"a", "b"}, "mixed": []any{"a", int64(1)},
			"token": "s3cret-token", "obj": map[string]any{"k": "v"},
		},
		App:   analyzer.App{Namespace: "team-a"},
		Phase: "upgrade",
	}
	tests := []struct {
		name    string
		src     string
		types   []reflect.Type
		want    any
		wantErr string
	}{
		{name: "string", src: `vars.host + ":" + vars.port`, types: []reflect.Type{stringT}, want: "db:5432"},
		{name: "namespace", src: `app.namespace + "-ceph"`, types: []reflect.Type{stringT}, want: "team-a-ceph"},
		{name: "int", src: `vars.n * 2`, types: []reflect.Type{intT}, want: int64(6)},
		{name: "dyn string where an int is wanted", src: `vars.port`, types: []reflect.Type{intT}, wantErr: "the value is a string, not an integer"},
		{name: "union", src: `vars.port`, types: []reflect.Type{intT, stringT}, want: "5432"},
		{name: "union mismatch", src: `vars.list`, types: []reflect.Type{intT, stringT}, wantErr: "the value is a list, not an integer or a string"},
		{name: "list of strings", src: `vars.list`, types: []reflect.Type{stringsT}, want: []any{"a", "b"}},
		{name: "element mismatch", src: `vars.mixed`, types: []reflect.Type{stringsT}, wantErr: "[1]: the value is an integer, not a string"},
		{name: "map", src: `{"Authorization": "Bearer " + vars.token}`, types: []reflect.Type{stringMapT}, want: map[string]any{"Authorization": "Bearer s3cret-token"}},
		{name: "nested element mismatch", src: `[vars.obj]`, types: []reflect.Type{intsOfMapsT}, wantErr: `[0]["k"]: the value is a string, not an integer`},
		{name: "object", src: `vars.obj`, types: []reflect.Type{objectT}, want: map[string]any{"k": "v"}},
		{name: "bytes", src: `b"x"`, types: []reflect.Type{rawT}, wantErr: "convert it with string(...)"},
		{name: "missing key", src: `vars.nope`, types: []reflect.Type{stringT}, wantErr: "no such key: nope"},
		{name: "null", src: `null`, types: []reflect.Type{rawT}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := analyzer.CompileValue(tt.src, analyzer.ScopeWhen, tt.types...)
			require.NoError(t, err)
			v, err := e.Value(context.Background(), c, nil)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "s3cret", "a value is never quoted")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v)
		})
	}
}

func TestValueAndEvalDoNotMix(t *testing.T) {
	t.Parallel()
	v, err := analyzer.CompileValue(`"x"`, analyzer.ScopeWhen, stringT)
	require.NoError(t, err)
	_, err = v.Eval(context.Background(), &analyzer.Context{}, nil)
	require.ErrorContains(t, err, "use Value")
	b := mustCompile(t, `true`, analyzer.ScopeWhen)
	_, err = b.Value(context.Background(), &analyzer.Context{}, nil)
	require.ErrorContains(t, err, "CompileValue")
	_, err = analyzer.CompileValue(`"x"`, analyzer.ScopeWhen)
	require.ErrorContains(t, err, "no type given")
}

func TestValueChargesTheBudget(t *testing.T) {
	t.Parallel()
	e, err := analyzer.CompileValue(`vars.host + ":1"`, analyzer.ScopeWhen, stringT)
	require.NoError(t, err)
	b := analyzer.NewBudget(4)
	c := &analyzer.Context{Vars: map[string]any{"host": "h"}, Budget: b}
	_, err = e.Value(context.Background(), c, nil)
	require.NoError(t, err)
	_, err = e.Value(context.Background(), c, nil)
	require.ErrorIs(t, err, analyzer.ErrBudgetExhausted)
}

func TestNamespaceInWhenAndConditions(t *testing.T) {
	t.Parallel()
	c := &analyzer.Context{App: analyzer.App{Namespace: "rook-ceph"}}
	ok, err := mustCompile(t, `app.namespace == "rook-ceph"`, analyzer.ScopeWhen).Eval(context.Background(), c, nil)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = mustCompile(t, `app.namespace.startsWith("rook")`, analyzer.ScopeCondition).Eval(context.Background(), c, &analyzer.Input{})
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestSecretsScopeDecodes(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, `base64.decode(output.data.password) == b"hunter2" && base64.encode(b"x") == "eA=="`, analyzer.ScopeSecretsCondition)
	ok, err := e.Eval(context.Background(), &analyzer.Context{}, &analyzer.Input{Object: map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}}})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "condition", analyzer.ScopeSecretsCondition.String())
}
