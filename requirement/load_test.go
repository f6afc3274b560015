package requirement_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
)

const minimal = `custom_requirements:
- id: a
  command: {id: exec, data: {cmd: [ls]}}
  results: [{status: success}]
`

func loadString(t testing.TB, opts requirement.LoadOptions, src string) (*requirement.Spec, error) {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = fakeRegistry(t)
	}
	return requirement.Load(context.Background(), opts, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(src)})
}

// problems returns the problems of a load error, failing the test if err is not one.
func problems(t testing.TB, err error) []requirement.Problem {
	t.Helper()
	var lerr *requirement.Error
	require.ErrorAs(t, err, &lerr)
	return lerr.Problems
}

// TestProblemLocations asserts the location and message of one problem per kind of bad input.
func TestProblemLocations(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want requirement.Problem
	}{
		{
			name: "unknown field is case-sensitive",
			src:  minimal + "  When: 'true'\n",
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 5, Column: 3, Path: "custom_requirements[0].When"},
				Message: `unknown field "When"; did you mean "when"? (field names are case-sensitive)`},
		},
		{
			name: "duplicate key",
			src:  minimal + "  id: b\n",
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 5, Column: 3, Path: "custom_requirements[0].id"},
				Message: `duplicate key "id" (first at line 2, column 3); remove one`},
		},
		{
			name: "unquoted version where a string is wanted",
			src:  strings.Replace(minimal, "id: a", "id: 1.20", 1),
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 2, Column: 7, Path: "custom_requirements[0].id"},
				Message: `must be a string, not the number 1.2; YAML reads the unquoted 1.20 as float: quote it ("1.20")`},
		},
		{
			name: "empty results",
			src:  strings.Replace(minimal, "[{status: success}]", "[]", 1),
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 4, Column: 12, Path: "custom_requirements[0].results"},
				Message: "must list at least one result"},
		},
		{
			name: "missing command id",
			src:  strings.Replace(minimal, "id: exec, ", "", 1),
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 3, Column: 12, Path: "custom_requirements[0].command"},
				Message: `missing required field "id"`},
		},
		{
			name: "legacy template",
			src:  minimal + "  when: '{{repl ConfigOptionEquals \"tier\" \"prod\" }}'\n",
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 5, Column: 9, Path: "custom_requirements[0].when"},
				Message: `when holds a Go template, which is not evaluated; write CEL instead: vars.tier == "prod"`},
		},
		{
			name: "timeout zero",
			src:  strings.Replace(minimal, "id: exec,", "id: exec, timeout: 0,", 1),
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 3, Column: 32, Path: "custom_requirements[0].command.timeout"},
				Message: "must not be 0; use -1 for no timeout"},
		},
		{
			name: "command data error from Prepare, placed at the field it names",
			src:  "custom_requirements:\n- id: a\n  command:\n    id: custom\n    data:\n      ok: 1\n      bad: 2\n  results: [{status: success}]\n",
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 7, Column: 12, Path: "custom_requirements[0].command.data.bad"},
				Message: "command custom: must not be set (custom refuses it)"},
		},
		{
			name: "cycle",
			src:  strings.Replace(minimal, "  command:", "  depends_on: [a]\n  command:", 1),
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 3, Column: 16, Path: "custom_requirements[0].depends_on[0]"},
				Message: "dependency cycle: a -> a"},
		},
		{
			name: "not a spec",
			src:  "apiVersion: apps/v1\nkind: Pod\n",
			want: requirement.Problem{Location: requirement.Location{File: "spec.yaml", Line: 1, Column: 1},
				Message: "document 1 is apiVersion: apps/v1, kind: Pod; expected a requirements document (a map with custom_requirements) or a pod template (apiVersion: v1, kind: Pod)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, requirement.LoadOptions{}, tc.src)
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			if diff := cmp.Diff(tc.want, ps[0]); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCELProblemPositions(t *testing.T) {
	tests := []struct {
		name      string
		when      string
		line, col int
	}{
		{name: "plain", when: "  when: phase == nope\n", line: 5, col: 18},
		{name: "double quoted", when: "  when: \"phase == nope\"\n", line: 5, col: 19},
		{name: "single quoted", when: "  when: 'phase == nope'\n", line: 5, col: 19},
		{name: "literal block, second line", when: "  when: |\n    phase == \"x\" &&\n      nope\n", line: 7, col: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, requirement.LoadOptions{}, minimal+tc.when)
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			require.Equal(t, tc.line, ps[0].Location.Line, "%v", err)
			require.Equal(t, tc.col, ps[0].Location.Column, "%v", err)
			require.Contains(t, ps[0].Message, "undeclared reference to 'nope'")
			require.Contains(t, ps[0].Snippet, "^")
			require.Contains(t, err.Error(), "\n     | ", "the snippet is indented under the line")
		})
	}
}

func TestAllProblemsAtOnceSorted(t *testing.T) {
	src := `custom_requirements:
- id: b
  command: {id: exec, timout: 1, data: {cmd: [ls]}}
  results: []
- id: a
  When: x
  command: {id: nope}
  results: [{status: sucess}]
`
	_, err := loadString(t, requirement.LoadOptions{}, src)
	ps := problems(t, err)
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Location.Line, p.Location.Column, p.Location.Path))
	}
	require.Equal(t, []string{
		"3:23 custom_requirements[0].command.timout",
		"4:12 custom_requirements[0].results",
		"6:3 custom_requirements[1].When",
		"7:17 custom_requirements[1].command.id",
		"8:22 custom_requirements[1].results[0].status",
	}, got)
}

func TestDefaultsAndConversion(t *testing.T) {
	src := `custom_requirements:
- id: a
  strict: true
  message:
    id: msg-a
    default_message: "{{.n}} nodes"
    args: {n: "{{repl .Result }}"}
  command: {id: exec, timeout: -1, data: {cmd: [ls]}}
  retry: {interval: 5s, timeout: 10m}
  results:
  - status: warn
    condition: {status_code: 0, error: false, bool_expr: 'stdout == "x"'}
  - status: success
- id: b
  depends_on: [a]
  command: {id: custom, timeout: 30, data: {n: 1}}
  results: [{status: error, condition: {}}]
`
	spec, err := loadString(t, requirement.LoadOptions{}, src)
	require.NoError(t, err)
	require.Len(t, spec.Requirements, 2)
	a, b := spec.Requirements[0], spec.Requirements[1]
	require.True(t, a.Strict)
	require.Equal(t, requirement.Message{ID: "msg-a", Text: "{{.n}} nodes", Args: map[string]string{"n": "{{repl .Result }}"}}, a.Message)
	require.Equal(t, time.Duration(0), a.Command.Timeout, "-1 means no timeout")
	require.Equal(t, &requirement.Retry{Interval: 5 * time.Second, Timeout: 10 * time.Minute, Until: requirement.StatusSuccess}, a.Retry)
	require.NotNil(t, a.Command.Prepared)
	require.JSONEq(t, `{"cmd":["ls"]}`, string(a.Command.Data))
	c := a.Results[0].Condition
	require.Equal(t, 0, *c.StatusCode)
	require.False(t, *c.Error)
	require.Equal(t, `stdout == "x"`, c.Expr.Source(), "bool_expr holding CEL is expr")
	require.Nil(t, a.Results[1].Condition)
	require.Equal(t, 30*time.Second, b.Command.Timeout)
	require.Equal(t, []string{"a"}, b.DependsOn)
	require.Nil(t, b.Results[0].Condition, "an empty condition always matches")
	require.Equal(t, "2 requirements, 0 pod templates", spec.Summary())
}

func TestMultipleFilesMerge(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte(`# kind: replicated
custom_requirements:
- id: one
  command: {id: scheduler, data: {kubernetes: {pod_name: checker}}}
  results: [{status: success}]
`), 0o644))
	require.NoError(t, os.WriteFile(b, []byte(`---
---
# only a comment
---
custom_requirements:
- id: two
  depends_on: [one]
  command: {id: exec, data: {cmd: [ls]}}
  results: [{status: success}]
---
apiVersion: v1
kind: Pod
metadata: {name: checker}
spec: {containers: [{name: c, image: busybox}]}
`), 0o644))
	spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)}, a, b)
	require.NoError(t, err)
	require.Equal(t, "2 requirements, 1 pod template", spec.Summary())
	require.Equal(t, "one", spec.Requirements[0].ID)
	require.Equal(t, "two", spec.Requirements[1].ID)
	require.Equal(t, b, spec.Requirements[1].Location.File)
	require.Equal(t, "busybox", spec.Pods["checker"].Spec.Containers[0].Image)

	// The same id in both files: the problem names both places.
	require.NoError(t, os.WriteFile(b, []byte(strings.Replace(minimal, "id: a", "id: one", 1)), 0o644))
	_, err = requirement.LoadFiles(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)}, a, b)
	ps := problems(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, b, ps[0].Location.File)
	require.Equal(t, `duplicate id "one"; first defined at `+a+`:3:7: custom_requirements[0].id`, ps[0].Message)
}

func TestLoadFileErrors(t *testing.T) {
	_, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	var lerr *requirement.Error
	require.False(t, errors.As(err, &lerr), "an unreadable file is not a spec problem")
}

func TestLoadReader(t *testing.T) {
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)}, requirement.Source{Name: "<stdin>", Reader: strings.NewReader(minimal)})
	require.NoError(t, err)
	require.Equal(t, "<stdin>", spec.Requirements[0].Location.File)
	require.Equal(t, requirement.DefaultTimeout, spec.Requirements[0].Command.Timeout, "no timeout given")
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := requirement.Load(ctx, requirement.LoadOptions{Registry: fakeRegistry(t)}, requirement.Source{Name: "x", Reader: strings.NewReader(minimal)})
	require.ErrorIs(t, err, context.Canceled)
}

// TestEmptySpec checks that a spec without any requirement is refused (fail closed): an
// empty download piped to the loader must not make a gate that passes.
func TestEmptySpec(t *testing.T) {
	const fix = "add at least one requirement under custom_requirements"
	tests := []struct {
		name string
		src  string
		want requirement.Location
		msg  string
	}{
		{"empty", "", requirement.Location{File: "spec.yaml"}, "the spec is empty"},
		{"blank lines", "\n\n  \n", requirement.Location{File: "spec.yaml"}, "the spec is empty"},
		{"comments only", "# nothing here\n---\n", requirement.Location{File: "spec.yaml"}, "the spec is empty"},
		{"empty list", "custom_requirements: []\n", requirement.Location{File: "spec.yaml", Line: 1, Column: 22, Path: "custom_requirements"}, "is empty"},
		{"pods only", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n",
			requirement.Location{File: "spec.yaml", Line: 1, Column: 1}, "no requirements document (a map with custom_requirements), only pod templates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := loadString(t, requirement.LoadOptions{}, tc.src)
			require.Nil(t, spec)
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			require.Equal(t, tc.want, ps[0].Location)
			require.Contains(t, ps[0].Message, tc.msg)
			require.Contains(t, ps[0].Message, fix)
		})
	}
	// Every entry point, and several empty sources: one problem naming them.
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "<stdin>", Reader: strings.NewReader("")})
	require.Equal(t, "<stdin>", problems(t, err)[0].Location.File)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte("# a\n"), 0o644))
	require.NoError(t, os.WriteFile(b, nil, 0o644))
	_, err = requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, a, b)
	ps := problems(t, err)
	require.Len(t, ps, 1)
	require.Contains(t, ps[0].Message, "the spec ("+a+", "+b+") is empty")
	// A list the schema already refuses gets no second problem.
	_, err = loadString(t, requirement.LoadOptions{}, "custom_requirements: [1]\n")
	require.Len(t, problems(t, err), 1, "%v", err)
	// An empty requirements document next to one with requirements is fine.
	_, err = loadString(t, requirement.LoadOptions{}, "custom_requirements: []\n---\n"+minimal)
	require.NoError(t, err)
}

// zeros is an endless reader.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestLimits(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		_, err := loadString(t, requirement.LoadOptions{Limits: requirement.Limits{MaxBytes: 50}}, minimal)
		ps := problems(t, err)
		require.Equal(t, "the spec is larger than 50 bytes (the limit, Limits.MaxBytes)", ps[0].Message)
		// An endless reader is cut at the limit, not read whole.
		_, err = requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "<stdin>", Reader: io.Reader(zeros{})})
		require.Contains(t, problems(t, err)[0].Message, "Limits.MaxBytes")
		// Files are cut at the limit too, across files.
		dir := t.TempDir()
		f := filepath.Join(dir, "a.yaml")
		require.NoError(t, os.WriteFile(f, []byte(minimal), 0o644))
		_, err = requirement.LoadFiles(context.Background(), requirement.LoadOptions{Limits: requirement.Limits{MaxBytes: len(minimal) + 10}}, f, f)
		require.Contains(t, problems(t, err)[0].Message, "Limits.MaxBytes")
	})
	t.Run("documents", func(t *testing.T) {
		_, err := loadString(t, requirement.LoadOptions{Limits: requirement.Limits{MaxDocuments: 3}}, strings.Repeat("---\n{}\n", 4))
		ps := problems(t, err)
		require.Equal(t, "the spec has more than 3 YAML documents (the limit, Limits.MaxDocuments)", ps[len(ps)-1].Message)
		_, err = loadString(t, requirement.LoadOptions{}, strings.Repeat("---\n", 10000))
		require.Contains(t, problems(t, err)[0].Message, "more than 256 YAML documents")
	})
	t.Run("depth", func(t *testing.T) {
		_, err := loadString(t, requirement.LoadOptions{}, strings.Repeat("[", 100)+strings.Repeat("]", 100))
		ps := problems(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, "nesting is deeper than 64 levels (the limit, Limits.MaxDepth)", ps[0].Message)
		// Deeper than the YAML parser's own limit: refused by the parser, with no stack blow-up.
		_, err = loadString(t, requirement.LoadOptions{}, strings.Repeat("[", 100000))
		require.Contains(t, problems(t, err)[0].Message, "invalid YAML: exceeded max depth")
	})
	t.Run("aliases refused by default", func(t *testing.T) {
		_, err := loadString(t, requirement.LoadOptions{}, "a: &x 1\nb: *x\n")
		ps := problems(t, err)
		require.Contains(t, ps[0].Message, "YAML anchors (&x) and aliases are not allowed")
		require.Contains(t, ps[1].Message, "YAML aliases (*x) are not allowed")
	})
	t.Run("aliases allowed up to the limit", func(t *testing.T) {
		src := "custom_requirements:\n- id: a\n  command: &c {id: exec, data: {cmd: [ls]}}\n  results: &r [{status: success}]\n" +
			"- id: b\n  command: *c\n  results: *r\n"
		spec, err := loadString(t, requirement.LoadOptions{Limits: requirement.Limits{MaxAliases: 2}}, src)
		require.NoError(t, err)
		require.Equal(t, "exec", spec.Requirements[1].Command.ID)
		_, err = loadString(t, requirement.LoadOptions{Limits: requirement.Limits{MaxAliases: 1}}, src)
		require.Contains(t, problems(t, err)[0].Message, "more than 1 YAML aliases (the limit, Limits.MaxAliases)")
	})
	t.Run("expression length", func(t *testing.T) {
		when := "  when: " + strings.Repeat("true && ", 2000) + "true\n"
		_, err := loadString(t, requirement.LoadOptions{}, minimal+when)
		ps := problems(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, "expression is 16004 bytes long, more than the limit of 10240 bytes: split the check into several requirements", ps[0].Message)
	})
}

// TestBillionLaughsBoundedMemory loads a billion-laughs document, even with aliases
// allowed, and checks that it is refused without expanding it: the allocation stays small.
func TestBillionLaughsBoundedMemory(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid/billion-laughs.yaml")
	require.NoError(t, err)
	for _, limit := range []int{0, 1000} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := loadString(t, requirement.LoadOptions{Limits: requirement.Limits{MaxAliases: limit}}, string(data))
		runtime.ReadMemStats(&after)
		require.NotEmpty(t, problems(t, err))
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "MaxAliases %d", limit)
	}
}

func TestProblemCap(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("custom_requirements:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "- id: r%d\n  command: {id: exec, data: {cmd: [ls]}}\n  results: []\n", i)
	}
	_, err := loadString(t, requirement.LoadOptions{}, b.String())
	var lerr *requirement.Error
	require.ErrorAs(t, err, &lerr)
	require.Len(t, lerr.Problems, 200)
	require.Equal(t, 100, lerr.Omitted)
	require.Equal(t, 300, lerr.Count())
	require.True(t, strings.HasSuffix(err.Error(), "\n... and 100 more problems not shown (300 in all)"), err.Error())
}

// TestProblemOrder checks that the problems listed are the first by position (file in the
// order given, line, column), not the first found, and that the count is exact: a spec whose
// CEL problems (found late) come before its schema problems (found first), across two
// files whose names sort the other way round.
func TestProblemOrder(t *testing.T) {
	// b.yaml (given first): 250 requirements whose when does not compile, each followed by
	// an unknown field that the schema reports before any CEL is compiled.
	var b bytes.Buffer
	b.WriteString("custom_requirements:\n")
	for i := range 250 {
		fmt.Fprintf(&b, "- id: b%d\n  when: 'nope'\n  bogus: 1\n  command: {id: exec, data: {cmd: [ls]}}\n  results: [{status: success}]\n", i)
	}
	// a.yaml (given second): one problem, on line 1.
	a := "custom_requirements:\n- id: a\n  bogus: 1\n  command: {id: exec, data: {cmd: [ls]}}\n  results: [{status: success}]\n"
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)},
		requirement.Source{Name: "b.yaml", Reader: bytes.NewReader(b.Bytes())}, requirement.Source{Name: "a.yaml", Reader: strings.NewReader(a)})
	var lerr *requirement.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 501, lerr.Count(), "every problem is counted")
	require.Len(t, lerr.Problems, 200)
	for i, p := range lerr.Problems {
		require.Equal(t, "b.yaml", p.Location.File, "problem %d: b.yaml was given first", i)
		// Line 3 + 5k is the when of b<k>, line 4 + 5k its bogus field: when first.
		k := i / 2
		wantLine := 3 + 5*k + i%2
		require.Equal(t, wantLine, p.Location.Line, "problem %d: %s", i, p)
	}
	require.Equal(t, 301, lerr.Omitted)
}

// TestSyntaxErrorHidesNoIDs checks that when part of the spec cannot be read, depends_on is
// not reported as unknown for ids that part may hold: only the syntax error is reported.
func TestSyntaxErrorHidesNoIDs(t *testing.T) {
	src := strings.Replace(minimal, "  command:", "  depends_on: [b]\n  command:", 1) + "---\ncustom_requirements:\n- id: b\n  x: [\n"
	_, err := loadString(t, requirement.LoadOptions{}, src)
	ps := problems(t, err)
	require.Len(t, ps, 1, "%v", err)
	// The parser gives up at the end of the file (line 10, column 1), after the "x: [" of line 9.
	require.Equal(t, requirement.Location{File: "spec.yaml", Line: 10, Column: 1}, ps[0].Location)
	require.Equal(t, "invalid YAML: did not find expected node content; the spec ends where a value is expected: complete the value or close the list or map it is in", ps[0].Message)
}

// TestConcurrentLoads loads specs from several goroutines at once (run with -race): the
// schema, the CEL environment and the registry are shared.
func TestConcurrentLoads(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/design-commands.yaml")
	require.NoError(t, err)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "x.yaml", Reader: bytes.NewReader(data)})
			if err == nil && len(spec.Requirements) != 9 {
				err = fmt.Errorf("loaded %d requirements", len(spec.Requirements))
			}
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

// TestBracesInCEL checks that CEL holding "{{" in a string literal is not taken for a Go
// template: only a whole {{ ... }} action is.
func TestBracesInCEL(t *testing.T) {
	spec, err := loadString(t, requirement.LoadOptions{}, strings.Replace(minimal, "{status: success}",
		`{status: success, condition: {expr: 'stdout.startsWith("{{")'}}`, 1))
	require.NoError(t, err)
	require.Equal(t, `stdout.startsWith("{{")`, spec.Requirements[0].Results[0].Condition.Expr.Source())
}

func TestNothingToLoad(t *testing.T) {
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{})
	require.EqualError(t, err, "loading spec: no spec given")
	_, err = requirement.LoadFiles(context.Background(), requirement.LoadOptions{})
	require.EqualError(t, err, "loading spec: no spec given")
	_, err = requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Reader: strings.NewReader("x: [")})
	require.Equal(t, "<source 1>", problems(t, err)[0].Location.File)
}
