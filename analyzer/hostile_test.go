package analyzer_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
)

// The inputs of the hostile-input issue: CEL string functions that escaped every cost limit.

// issuePattern is the issue's regular expression: on 1 MB of "x" it ran 65 s.
const issuePattern = "x.{1000}.{1000}.{1000}y"

// jsonStdout is a command's stdout holding {"s": s}: what `output.s` reads, a string the
// static estimate cannot size (the run's data is taken as empty at load).
func jsonStdout(t testing.TB, s string) string {
	b, err := json.Marshal(map[string]string{"s": s, "p": issuePattern})
	require.NoError(t, err)
	return string(b)
}

// evalMeasured evaluates e and returns its error, the bytes it allocated and how long it took.
func evalMeasured(e *analyzer.Expression, in *analyzer.Input) (err error, alloc uint64, took time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err = e.Eval(context.Background(), nil, in)
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc, took
}

// The issue's expressions on stdout are refused at load: with stdout at 1 MiB their
// estimate is far above the static limit.
func TestCompileRefusesOutputBlowups(t *testing.T) {
	for _, src := range []string{
		`stdout.replace("", stdout) != ""`,
		`stdout.matches("` + issuePattern + `")`,
		`matches(stdout, "` + issuePattern + `")`,
		`stdout.find("` + issuePattern + `") != ""`,
		`stdout.split("\n").join(stdout).size() > 0`,
	} {
		_, err := analyzer.Compile(src, analyzer.ScopeCondition)
		require.Error(t, err, src)
		assert.Contains(t, err.Error(), "too complex: estimated cost", src)
	}
}

// The same calls on data the load cannot size (output, parsed from stdout) are refused
// before they run: the evaluation fails with the cost limit, at once, having allocated next
// to nothing (the issue: 4.7 s and 1.6 GB for the replace on 40 KB; 65 s in one regex). The
// issue's replace on 1 MiB is not run here: were the guard broken, it would not die at once
// as the issue says but fill the machine's memory page by page; TestCompileRefusesOutputBlowups
// and the CLI's hostile test cover it, refused at load.
func TestEvalRefusesCostlyCalls(t *testing.T) {
	tests := []struct {
		name, src, stdout, want string
	}{
		{"replace on 40 KB (the issue: 4.7 s and 1.6 GB)", `output.s.replace("", output.s) != ""`, strings.Repeat("x", 40000),
			"replace would build a string of 1600080000 bytes from 40000"},
		{"counted repeats on 1 MB (the issue: 65 s)", `output.s.matches("` + issuePattern + `")`, strings.Repeat("x", 1000000),
			"matches would run a pattern of 3002 instructions over 1000000 bytes"},
		{"counted repeats, pattern from the output", `output.s.matches(output.p)`, strings.Repeat("x", 1000000),
			"matches would run a pattern of 3002 instructions over 1000000 bytes"},
		{"join of one string many times", `output.s.split("").map(c, output.s).join("") != ""`, strings.Repeat("x", 4000),
			"join would build a string of 16000000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, tt.src, analyzer.ScopeCondition)
			in := &analyzer.Input{Stdout: jsonStdout(t, tt.stdout)}
			err, alloc, took := evalMeasured(e, in)
			require.ErrorIs(t, err, analyzer.ErrCostLimit)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "the call was refused before it ran")
			// Parsing the output is the bulk: at most a few copies of stdout.
			assert.Less(t, alloc, uint64(64<<20), "bytes allocated")
			t.Logf("refused after %v, %d KiB allocated", took, alloc>>10)
		})
	}
}

// The time limit applies to every tracked evaluation, also without a comprehension: the
// evaluation checks it before each priced call (here, with a limit already passed, before
// the first).
func TestEvalTimeLimitWithoutComprehension(t *testing.T) {
	defer analyzer.SetMaxEvalDuration(0)()
	c := &analyzer.Context{Vars: map[string]any{"s": "abc"}}
	ok, err := mustCompile(t, `vars.s.indexOf("b") == 1`, analyzer.ScopeWhen).Eval(context.Background(), c, nil)
	assert.False(t, ok)
	require.ErrorIs(t, err, analyzer.ErrEvalTimeout)
	assert.Contains(t, err.Error(), "time limit")
}

// Cancelling the run (Ctrl-C) stops an evaluation between two priced calls, also without a
// comprehension.
func TestEvalCancelledBetweenCalls(t *testing.T) {
	c := &analyzer.Context{Vars: map[string]any{"s": "abc"}}
	_, err := mustCompile(t, `vars.s.indexOf("b") == 1`, analyzer.ScopeWhen).Eval(&cancelledDuringEval{Context: context.Background()}, c, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "evaluation interrupted")
}

// BenchmarkWorstStringFunction measures, on 1 MiB of output, the costliest evaluations the
// limits admit: for each kind of priced call, the expression closest to the per-call limit on
// its worst input, next to a bare scan of the same bytes (strings.Contains) and a typical
// condition. Its figures are in docs/performance.md.
func BenchmarkWorstStringFunction(b *testing.B) {
	const n = 1 << 20
	xs := strings.Repeat("x", n)
	lines := strings.Repeat(strings.Repeat("x", 49)+"\n", n/50)
	cases := []struct{ name, src, stdout string }{
		// The largest program a 1 MiB subject admits: ceil(0.25·35) = 9, times 104858 =
		// 943722. Every "x" starts a thread that lives for 35 bytes.
		{"regex", `stdout.matches("x.{33}y")`, xs},
		// A 32-character needle that matches up to its last character at every position.
		{"indexOf", `stdout.indexOf("` + strings.Repeat("x", 31) + `y") >= 0`, xs},
		// The result three times the input: 0.1·(2·n + 3·n) = 524289.
		{"replace", `stdout.replace("", "ab").size() > 0`, xs},
		// One string per 50 bytes: 0.1·(2·n + 16·n/50).
		{"split", `stdout.split("\n").size() > 0`, lines},
		{"typical", `status_code == 0 && stdout.contains("ready")`, xs},
	}
	b.Run("bare-contains", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if strings.Contains(xs, "ready") {
				b.Fatal("found")
			}
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := mustCompile(b, c.src, analyzer.ScopeCondition)
			in := &analyzer.Input{Stdout: c.stdout}
			ctx := context.Background()
			budget := analyzer.NewBudget(1 << 62)
			actx := &analyzer.Context{Budget: budget}
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Eval(ctx, actx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(budget.Spent())/float64(b.N), "cost/op")
		})
	}
}

// `truncated` tells a condition that the output was cut at its limit.
func TestTruncatedVariable(t *testing.T) {
	e := mustCompile(t, `truncated && stdout == "abc"`, analyzer.ScopeCondition)
	for _, cut := range []bool{false, true} {
		ok, err := e.Eval(context.Background(), nil, &analyzer.Input{Stdout: "abc", Truncated: cut})
		require.NoError(t, err)
		assert.Equal(t, cut, ok)
	}
	_, err := analyzer.Compile(`truncated`, analyzer.ScopeWhen)
	require.ErrorContains(t, err, "truncated exists only in result conditions")
}

// Reads is decided at compile time from the checked expression, like UsesCluster.
func TestReads(t *testing.T) {
	tests := []struct {
		src   string
		reads []string
	}{
		{`status_code == 0`, []string{"status_code"}},
		{`stdout.contains("ERROR") || stderr != ""`, []string{"stderr", "stdout"}},
		{`has(output.items) && output.items.all(i, i.ready)`, []string{"output"}},
		{`!truncated && status_code == 0 && size(cluster.nodes) > 2`, []string{"cluster", "status_code", "truncated"}},
		{`[1, 2].exists(x, x == status_code) && type(status_code) == int`, []string{"status_code"}},
		{`vars.x == "stdout"`, []string{"vars"}},
		{`semver(app.previous_version).isLessThan(semver("2.0.0"))`, []string{"app", "app.previous_version"}},
		{`app.version != "" && phase == "upgrade"`, []string{"app", "app.version", "phase"}},
		{`[app].exists(a, a.namespace == "x")`, []string{"app", "app.version", "app.previous_version", "app.namespace"}},
		{`vars.previous_version == "1"`, []string{"vars"}},
	}
	all := []string{"stdout", "stderr", "output", "truncated", "cluster", "status_code", "vars", "int", "x", "i",
		"app", "phase", "app.version", "app.previous_version", "app.namespace"}
	for _, tt := range tests {
		e := mustCompile(t, tt.src, analyzer.ScopeCondition)
		var got []string
		for _, v := range all {
			if e.Reads(v) {
				got = append(got, v)
			}
		}
		assert.ElementsMatch(t, tt.reads, got, tt.src)
		assert.Equal(t, slicesContains(tt.reads, "cluster"), e.UsesCluster(), tt.src)
	}
	var none *analyzer.Expression
	assert.False(t, none.Reads("stdout"))
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzConditionEvaluation evaluates conditions that call the priced functions over random
// outputs and patterns: an evaluation returns a value or an error (the cost limit, a CEL
// runtime error such as a bad pattern), never a panic cel-go recovers as an internal error.
// Run it with go test -fuzz FuzzConditionEvaluation -fuzztime 30s ./analyzer/; without -fuzz
// the seeds run as a test.
func FuzzConditionEvaluation(f *testing.F) {
	exprs := make([]*analyzer.Expression, 0, 8)
	for _, src := range []string{
		`stdout.replace(vars.p, vars.q) != "" || stdout.split(vars.p).size() > 1`,
		`stdout.matches(vars.p) || stdout.find(vars.p) != "" || stdout.findAll(vars.p, 3).size() > 0`,
		`stdout.indexOf(vars.p) >= 0 || stdout.lastIndexOf(vars.q) >= 0`,
		`vars.p.format([stdout, status_code, 1.5]) != ""`,
		`stdout.split("\n").join(vars.p) != "" && strings.quote(vars.q) != ""`,
		`!truncated && output != null && stdout.charAt(0) != "x"`,
	} {
		exprs = append(exprs, mustCompile(f, src, analyzer.ScopeCondition))
	}
	f.Add("line\nERROR\n", "ERROR", "warn", false)
	f.Add(strings.Repeat("x", 2000), issuePattern, "", true)
	f.Add(`{"a": [1, 2]}`, "%s %d %.3f %x %b %o", "", false)
	f.Add("ab", "", "ab", false)
	f.Add("\xff\xfe", "(", "\x00", false)
	f.Fuzz(func(t *testing.T, stdout, p, q string, cut bool) {
		if len(stdout)+len(p)+len(q) > 4096 {
			// Larger inputs only take longer (up to the cost limit, about 0.5 s per
			// evaluation), which slows the search for crashes.
			t.Skip()
		}
		c := &analyzer.Context{Vars: map[string]any{"p": p, "q": q}}
		in := &analyzer.Input{Stdout: stdout, Truncated: cut}
		for _, e := range exprs {
			_, err := e.Eval(context.Background(), c, in)
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%s: %v", e.Source(), err)
			}
		}
	})
}
