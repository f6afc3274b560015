package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want map[string]any
		err  string
	}{
		{expr: "tier=prod", want: map[string]any{"tier": "prod"}},
		{expr: "a.b.c=1", want: map[string]any{"a": map[string]any{"b": map[string]any{"c": int64(1)}}}},
		{expr: "a=1,b=2", want: map[string]any{"a": int64(1), "b": int64(2)}},
		{expr: "on=true,off=FALSE,nothing=null", want: map[string]any{"on": true, "off": false, "nothing": nil}},
		{expr: "zero=0,octal=0755,neg=-3,float=1.5,big=99999999999999999999", want: map[string]any{
			"zero": int64(0), "octal": "0755", "neg": int64(-3), "float": "1.5", "big": "99999999999999999999"}},
		{expr: "empty=", want: map[string]any{"empty": ""}},
		{expr: "list={a,2,true}", want: map[string]any{"list": []any{"a", int64(2), true}}},
		{expr: "list={},x=1", want: map[string]any{"list": []any{}, "x": int64(1)}},
		{expr: "list={a,b},next=c", want: map[string]any{"list": []any{"a", "b"}, "next": "c"}},
		{expr: `name=a\,b`, want: map[string]any{"name": "a,b"}},
		{expr: `dotted\.key=v`, want: map[string]any{"dotted.key": "v"}},
		{expr: "url=http://x/?a=b", want: map[string]any{"url": "http://x/?a=b"}},
		{expr: "tier", err: `key "tier" has no value`},
		{expr: "a.b", err: `key "a.b" has no value`},
		{expr: "a,b=1", err: `key "a" has no value`},
		{expr: "=1", err: "empty part"},
		{expr: "a..b=1", err: "empty part"},
		{expr: "", err: "empty expression"},
		{expr: "a=1,", err: "trailing comma"},
		{expr: "a[0]=1", err: "list indices"},
		{expr: "l={a,b", err: "not closed"},
		{expr: "l={a}x", err: "after '}'"},
		{expr: `a=b\`, err: "trailing backslash"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			got := map[string]any{}
			err := parseSet(got, tc.expr)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildVars(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	base := write("base.yaml", "tier: dev\ndb:\n  replicas: 1\n  ha: false\n  size: 1.5\nlist: [1, 2]\n")
	prod := write("prod.yaml", "tier: prod\ndb:\n  replicas: 3\nlist: [x]\n")
	empty := write("empty.yaml", "")
	dup := write("dup.yaml", "a: 1\na: 2\n")
	list := write("list.yaml", "- a\n- b\n")

	got, err := buildVars(context.Background(), strings.NewReader(""), []string{base, prod, empty}, []string{"db.ha=true", "extra.k=v"})
	require.NoError(t, err)
	want := map[string]any{
		"tier":  "prod",
		"db":    map[string]any{"replicas": int64(3), "ha": true, "size": 1.5},
		"list":  []any{"x"},
		"extra": map[string]any{"k": "v"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	fromStdin, err := buildVars(context.Background(), strings.NewReader("tier: stdin\n"), []string{"-"}, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"tier": "stdin"}, fromStdin)

	none, err := buildVars(context.Background(), strings.NewReader(""), nil, nil)
	require.NoError(t, err)
	assert.NotNil(t, none)
	assert.Empty(t, none)

	for name, tc := range map[string]struct {
		files []string
		sets  []string
		err   string
	}{
		"duplicate key":  {files: []string{dup}, err: `key "a" already set`},
		"not a map":      {files: []string{list}, err: "must hold a map of values"},
		"missing file":   {files: []string{filepath.Join(dir, "nope.yaml")}, err: "no such file"},
		"bad set":        {sets: []string{"novalue"}, err: `--set "novalue"`},
		"set keeps file": {files: []string{base}, sets: []string{"a[1]=x"}, err: "list indices"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := buildVars(context.Background(), strings.NewReader(""), tc.files, tc.sets)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

// TestMergeDoesNotAlias checks that merging a file's nested map and then setting into it
// does not change the map of the file it came from.
func TestMergeDoesNotAlias(t *testing.T) {
	t.Parallel()
	src := map[string]any{"db": map[string]any{"replicas": int64(1)}}
	dst := map[string]any{}
	mergeInto(dst, src)
	require.NoError(t, parseSet(dst, "db.replicas=5"))
	assert.Equal(t, int64(1), src["db"].(map[string]any)["replicas"])
	assert.Equal(t, int64(5), dst["db"].(map[string]any)["replicas"])
}
