package celenv

import (
	"context"
	"errors"
	"regexp/syntax"
	"runtime"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// issuePattern is the regular expression of the hostile-input issue: 23 characters, 3,002
// instructions; on 1 MB of "x" Go's regexp runs it for tens of seconds.
const issuePattern = "x.{1000}.{1000}.{1000}y"

// compileWhen checks src in the when environment.
func compileWhen(t *testing.T, src string) *cel.Ast {
	t.Helper()
	env, err := When()
	require.NoError(t, err)
	ast, iss := env.Compile(src)
	require.NoError(t, iss.Err(), src)
	return ast
}

// activation is what analyzer gives a program: vars and the guards' EvalState.
func activation(vars map[string]any, st *EvalState) map[string]any {
	act := map[string]any{VarVars: vars, VarApp: map[string]string{}, VarPhase: "", VarCluster: map[string]any{}, VarResults: map[string]string{}}
	if st != nil {
		act[StateVar] = st
	}
	return act
}

// allocated returns the bytes f allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// maxRefusalAlloc bounds what evaluating a refused expression may allocate: its inputs exist
// already, and the refused call does none of its work.
const maxRefusalAlloc = 64 << 20

// The calls that escaped every limit are refused before they run, in the tracked and the
// untracked program alike, and allocate next to nothing. Each input is sized so that the
// unguarded call would still finish on a test machine (at most a few hundred MiB or a few
// seconds) while costing far more than the limit; the issue's own 1 MiB inputs are in
// analyzer's and the CLI's tests.
func TestGuardRefusesCostlyCalls(t *testing.T) {
	xs := func(n int) string { return strings.Repeat("x", n) }
	ints := make([]any, 20000)
	for i := range ints {
		ints[i] = int64(i)
	}
	refs := make([]any, 10000)
	for i := range refs {
		refs[i] = xs(1 << 14) // one 16 KiB string, 10,000 times: 160 MiB once joined
	}
	nested := make([]any, 100)
	for i := range nested {
		nested[i] = ints // one list of 20,000, 100 times: 2 million once flattened
	}
	vars := map[string]any{
		"bigObject": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"x": xs(12 << 20)}},
		"s16k":      xs(1 << 14), "s40k": xs(40000), "s1m": xs(1 << 20), "s4m": xs(4 << 20),
		"needle": xs(2000) + "y", "p": issuePattern, "refs": refs, "ints": ints, "nested": nested,
		"ten": []any{xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20), xs(1 << 20)},
	}
	tests := []struct{ src, what string }{
		{`vars.s16k.replace("", vars.s16k) != ""`, "replace would build a string of 268468224 bytes from 16384"},
		{`vars.s16k.replace("x", vars.s16k, 20000) != ""`, "replace would build a string of"},
		{`vars.s40k.matches("` + issuePattern + `")`, "matches would run a pattern of 3002 instructions over 40000 bytes"},
		{`vars.s40k.matches(vars.p)`, "matches would run a pattern of 3002 instructions over 40000 bytes"},
		{`vars.s40k.find("` + issuePattern + `") != ""`, "find would run a pattern of 3002 instructions"},
		{`vars.s40k.findAll(vars.p, 3).size() > 0`, "findAll would run a pattern of 3002 instructions"},
		{`vars.refs.join("") != ""`, "join would build a string of 163840000 bytes from 10000 elements"},
		{`vars.s1m.split("").size() > 0`, "split would build a list of 1048576 strings"},
		{`"%s%s%s%s%s%s%s%s%s%s".format(vars.ten) != ""`, "format would build up to 10485760 bytes"},
		{`"%.999999f%.999999f%.999999f%.999999f%.999999f%.999999f".format([1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) != ""`, "format would build up to"},
		{`strings.quote(vars.s4m) != ""`, "strings.quote would build up to 12582914 bytes"},
		{`vars.s1m.indexOf(vars.needle) >= 0`, "searching 1048576 bytes for a needle of 2001"},
		{`vars.s1m.lastIndexOf(vars.needle) >= 0`, "searching 1048576 bytes for a needle of 2001"},
		{`lists.range(20000000).size() > 0`, "lists.range would build a list of 20000000 elements"},
		{`lists.range(int(vars.s16k.size()) * 1000).size() > 0`, "lists.range would build a list of 16384000 elements"},
		{`vars.nested.flatten().size() > 0`, "flatten would build a list of"},
		{`sets.contains(vars.ints, vars.ints)`, "comparing lists of 20000 and 20000 elements"},
		{`vars.ints.sort().size() > 0`, "sorting or deduplicating 20000 elements"},
		{`vars.ints.distinct().size() > 0`, "sorting or deduplicating 20000 elements"},
		{`kstatus(vars.bigObject).status == "Current"`, "kstatus would read an object of 125829"},
	}
	for _, tt := range tests {
		ast := compileWhen(t, tt.src)
		for name, build := range map[string]func(*cel.Ast) (cel.Program, error){"tracked": Program, "untracked": UntrackedProgram} {
			t.Run(name+" "+tt.src, func(t *testing.T) {
				prg, err := build(ast)
				require.NoError(t, err)
				var evalErr error
				alloc := allocated(func() { _, _, evalErr = prg.Eval(activation(vars, &EvalState{})) })
				var cancelled interpreter.EvalCancelledError
				require.ErrorAs(t, evalErr, &cancelled)
				what, ok := Refusal(cancelled)
				require.True(t, ok, "refused by the guard, not after the call: %v", evalErr)
				assert.Contains(t, what, tt.what)
				assert.Less(t, alloc, uint64(maxRefusalAlloc), "bytes allocated")
			})
		}
	}
}

// The same functions on ordinary inputs give Kubernetes' results: the guards change prices,
// never values.
func TestGuardedFunctionsSameResults(t *testing.T) {
	env, err := Condition()
	require.NoError(t, err)
	act := map[string]any{VarStdout: "line one\nline two\nERROR three\n", VarStderr: "ab", VarApp: map[string]string{},
		VarVars: map[string]any{"p": "^line", "l": []any{"b", "a"}, "n": []any{[]any{int64(1)}, []any{int64(2)}}}}
	for _, src := range []string{
		`stdout.replace("line", "l") == "l one\nl two\nERROR three\n"`,
		`stdout.replace("", "-", 3) == "-l-i-ne one\nline two\nERROR three\n"`,
		`stdout.split("\n").size() == 4 && stdout.split("\n", 2)[1] == "line two\nERROR three\n"`,
		`stdout.split("\n").join(",") == "line one,line two,ERROR three," && ["a", "b"].join() == "ab"`,
		`"%s=%d %.2f %x".format(["k", 42, 1.5, "ab"]) == "k=42 1.50 6162"`,
		`strings.quote(stderr + "\n") == "\"ab\\n\""`,
		`stdout.charAt(5) == "o" && stdout.indexOf("two") == 14 && stdout.lastIndexOf("line") == 9 && stdout.indexOf("e", 4) == 7`,
		`stdout.matches("ERROR") && matches(stdout, "^line") && !stdout.matches(vars.p + "x") && matches(stdout, vars.p)`,
		`stdout.find("[A-Z]+") == "ERROR" && stdout.findAll("line [a-z]+") == ["line one", "line two"] && stdout.findAll(vars.p, 1).size() == 1`,
		`lists.range(3) == [0, 1, 2] && vars.n.flatten() == [1, 2] && vars.l.sort() == ["a", "b"] && sets.contains(vars.l, ["a"])`,
	} {
		t.Run(src, func(t *testing.T) {
			ast, iss := env.Compile(src)
			require.NoError(t, iss.Err())
			k8s, err := env.Program(ast) // Kubernetes' own program options, no guards
			require.NoError(t, err)
			want, _, err := k8s.Eval(act)
			require.NoError(t, err)
			require.Equal(t, types.True, want)
			for _, build := range []func(*cel.Ast) (cel.Program, error){Program, UntrackedProgram} {
				prg, err := build(ast)
				require.NoError(t, err)
				got, _, err := prg.Eval(act)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
		})
	}
}

// The guard keeps the sum of an evaluation's calls within the limit: two calls that each fit
// do not both run when together they do not.
func TestGuardAddsUpAnEvaluation(t *testing.T) {
	// 0.1·(1+400000) = 40001, times ceil(0.25·52 instructions) = 13: 520013 each.
	vars := map[string]any{"s": strings.Repeat("x", 400000), "p": "x.{50}y"}
	ast := compileWhen(t, `vars.s.matches(vars.p) || vars.s.matches(vars.p)`)
	prg, err := Program(ast)
	require.NoError(t, err)

	_, _, err = prg.Eval(activation(vars, &EvalState{}))
	var cancelled interpreter.EvalCancelledError
	require.ErrorAs(t, err, &cancelled)
	what, ok := Refusal(cancelled)
	require.True(t, ok, "%v", err)
	assert.Contains(t, what, "(cost 520013), the evaluation's calls would cost 1040026")

	// Alone, each call fits.
	one, err := Program(compileWhen(t, `vars.s.matches(vars.p)`))
	require.NoError(t, err)
	v, _, err := one.Eval(activation(vars, &EvalState{}))
	require.NoError(t, err)
	assert.Equal(t, types.False, v)
}

// A priced call checks the evaluation's context before it runs, also outside comprehensions
// (cel-go checks only inside them).
func TestGuardChecksContext(t *testing.T) {
	vars := map[string]any{"s": "abc"}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("time limit"))
	for name, build := range map[string]func(*cel.Ast) (cel.Program, error){"tracked": Program, "untracked": UntrackedProgram} {
		t.Run(name, func(t *testing.T) {
			prg, err := build(compileWhen(t, `vars.s.indexOf("b") == 1`))
			require.NoError(t, err)
			_, _, err = prg.Eval(activation(vars, &EvalState{Ctx: ctx}))
			var cancelled interpreter.EvalCancelledError
			require.ErrorAs(t, err, &cancelled)
			assert.Equal(t, interpreter.ContextCancelled, cancelled.Cause)
			assert.Contains(t, cancelled.Message, "time limit")

			v, _, err := prg.Eval(activation(vars, &EvalState{Ctx: context.Background()}))
			require.NoError(t, err)
			assert.Equal(t, types.True, v)
		})
	}
}

// Every way of writing a regular expression call reaches a guard: with a constant pattern
// (compiled when the program is built: cel-go's own optimisation of `matches` must not take
// over) and with a pattern only the run knows, in member and global form, on typed and dyn
// values.
func TestRegexFormsAreGuarded(t *testing.T) {
	vars := map[string]any{"s": strings.Repeat("x", 40000), "p": issuePattern}
	env, err := Condition()
	require.NoError(t, err)
	act := activation(vars, &EvalState{})
	act[VarStdout] = vars["s"]
	act[VarOutput] = types.DefaultTypeAdapter.NativeToValue(map[string]any{"s": vars["s"]})
	for _, subject := range []string{"stdout", "vars.s", "output.s", "dyn(stdout)"} {
		for _, pattern := range []string{`"` + issuePattern + `"`, "vars.p"} {
			for _, form := range []string{
				`%s.matches(%s)`, `matches(%s, %s)`, `%s.find(%s) != ""`, `%s.findAll(%s).size() > 0`, `%s.findAll(%s, 1).size() > 0`,
			} {
				src := strings.Replace(strings.Replace(form, "%s", subject, 1), "%s", pattern, 1)
				t.Run(src, func(t *testing.T) {
					ast, iss := env.Compile(src)
					require.NoError(t, iss.Err())
					prg, err := Program(ast)
					require.NoError(t, err)
					_, _, err = prg.Eval(act)
					var cancelled interpreter.EvalCancelledError
					require.ErrorAs(t, err, &cancelled)
					_, ok := Refusal(cancelled)
					assert.True(t, ok, "%v", err)
				})
			}
		}
	}
}

// patternSize counts instructions as Go's regexp parser does; it follows the compiled
// program's size closely.
func TestPatternSize(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		want    int64
	}{
		{issuePattern, 3002},
		{"ERROR", 5},
		{"a{2,5}", 8},
		{"(a|b)*c", 6},
		{"[0-9]+\\.[0-9]+", 5},
		{"(?i)error", 5},
	} {
		got, err := patternSize(tt.pattern)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.pattern)
		re, err := syntax.Parse(tt.pattern, syntax.Perl)
		require.NoError(t, err)
		prog, err := syntax.Compile(re.Simplify())
		require.NoError(t, err)
		assert.InDelta(t, float64(len(prog.Inst)), float64(got), float64(len(prog.Inst))/2+3, "%s: %d instructions compiled", tt.pattern, len(prog.Inst))
	}
	_, err := patternSize("a{1001}")
	assert.Error(t, err)
}

// At load, the static estimate prices the calls the way the guard does: the issue's
// expressions are refused before any output exists; ordinary ones are not.
func TestStaticEstimates(t *testing.T) {
	env, err := Condition()
	require.NoError(t, err)
	for _, tt := range []struct {
		src     string
		refused bool
	}{
		{`stdout.replace("", stdout) != ""`, true},
		{`stdout.matches("` + issuePattern + `")`, true},
		{`matches(stdout, "` + issuePattern + `")`, true},
		{`stdout.find("` + issuePattern + `") != ""`, true},
		{`stdout.split("\n").join(stdout) != ""`, true},
		{`"x".matches(stdout)`, true}, // a pattern of 1 MiB may have a billion instructions
		{`stdout.replace("\r\n", "\n").contains("ERROR")`, false},
		{`stdout.matches("^v[0-9]+\\.[0-9]+")`, false},
		{`stdout.split("\n").exists(l, l.startsWith("ERROR"))`, false},
		{`"%s: %d".format([stdout, status_code]) != ""`, false},
		{`"` + strings.Repeat("%s", 25) + `%d".format([` + strings.Repeat("stdout, ", 25) + `status_code]) != ""`, true}, // 52 MB in a list of mixed types
		{`stdout.indexOf("ready") >= 0 && stderr.lastIndexOf("warn") < 0`, false},
	} {
		ast, iss := env.Compile(tt.src)
		require.NoError(t, iss.Err(), tt.src)
		est, err := EstimateCost(env, ast)
		require.NoError(t, err)
		assert.Equal(t, tt.refused, est.Max > StaticCostLimit, "%s: %d", tt.src, est.Max)
	}
}

// kstatus over many objects adds up: each call is priced by its object's size, and the
// evaluation stops at the limit (the guard refuses the call that would pass it; the tracked
// program's tracker, which also charges the comprehension, may stop it first).
func TestKStatusPricedBySize(t *testing.T) {
	objects := make([]any, 10000)
	for i := range objects {
		objects[i] = map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"x": strings.Repeat("x", 1<<14)}}
	}
	vars := map[string]any{"objects": objects, "small": objects[:10]}
	ast := compileWhen(t, `vars.objects.all(o, kstatus(o).status == "Current")`)
	small := compileWhen(t, `vars.small.all(o, kstatus(o).status == "Current")`)
	for name, build := range map[string]func(*cel.Ast) (cel.Program, error){"tracked": Program, "untracked": UntrackedProgram} {
		t.Run(name, func(t *testing.T) {
			prg, err := build(ast)
			require.NoError(t, err)
			_, _, err = prg.Eval(activation(vars, &EvalState{}))
			var cancelled interpreter.EvalCancelledError
			require.ErrorAs(t, err, &cancelled)
			assert.Equal(t, interpreter.CostLimitExceeded, cancelled.Cause)

			prg, err = build(small)
			require.NoError(t, err)
			out, _, err := prg.Eval(activation(vars, &EvalState{}))
			require.NoError(t, err)
			assert.Equal(t, types.True, out)
		})
	}
	assert.Less(t, cost(t, `kstatus({"apiVersion": "v1", "kind": "ConfigMap"}).status == "Current"`, nil), uint64(100),
		"a small object costs little")
}
