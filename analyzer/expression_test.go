package analyzer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
)

func mustCompile(t testing.TB, src string, scope analyzer.Scope) *analyzer.Expression {
	t.Helper()
	e, err := analyzer.Compile(src, scope)
	require.NoError(t, err, "compile %q", src)
	return e
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		scope analyzer.Scope
		want  []analyzer.Issue
	}{
		{
			name:  "field selection on a string",
			src:   `node.lables == "x"`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 5,
				Message: "type 'string' does not support field selection",
				Snippet: " | node.lables == \"x\"\n | ....^"}},
		},
		{
			name:  "undeclared in when, with a hint",
			src:   `status_code == 0`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "undeclared reference to 'status_code': status_code exists only in result conditions, after the command ran",
				Snippet: " | status_code == 0\n | ^"}},
		},
		{
			name:  "undeclared variable",
			src:   `stdot.contains("ok")`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "undeclared reference to 'stdot'",
				Snippet: " | stdot.contains(\"ok\")\n | ^"}},
		},
		{
			name:  "int compared with string",
			src:   `status_code == "0"`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 13,
				Message: "found no matching overload for '_==_' applied to '(int, string)'",
				Snippet: " | status_code == \"0\"\n | ............^"}},
		},
		{
			name:  "second line",
			src:   "status_code == 0 &&\n  stdout.contanis(\"ok\")",
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 2, Column: 18,
				Message: "undeclared reference to 'contanis'",
				Snippet: " |   stdout.contanis(\"ok\")\n | .................^"}},
		},
		{
			name:  "syntax error",
			src:   `status_code == `,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 16,
				Message: "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}",
				Snippet: " | status_code == \n | ...............^"}},
		},
		{
			name:  "not bool",
			src:   `status_code + 1`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "must evaluate to bool, got int: compare the value, as in `status_code + 1 == ...`",
				Snippet: " | status_code + 1\n | ^"}},
		},
		{
			name:  "empty",
			src:   "  ",
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "expression is empty: write a CEL expression that evaluates to bool, such as status_code == 0"}},
		},
		{
			name:  "too long",
			src:   strings.Repeat("true && ", analyzer.MaxExpressionBytes/8) + "true",
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "expression is 10244 bytes long, more than the limit of 10240 bytes: split the check into several requirements"}},
		},
		{
			name:  "too costly",
			src:   `stdout.split("").map(c, stdout.indexOf(c)).size() > 0`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 1,
				Message: "too complex: estimated cost 109968149724 exceeds limit 10000000 (worst case with stdout and stderr at 1 MiB); avoid nested loops over the output, long regular expressions (counted repetitions such as .{1000} count as 1000 steps) and replace or join building strings from the output",
				Snippet: " | stdout.split(\"\").map(c, stdout.indexOf(c)).size() > 0\n | ^"}},
		},
		{
			name:  "invalid regex literal",
			src:   `stdout.matches("(")`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 16,
				Message: "invalid matches argument",
				Snippet: " | stdout.matches(\"(\")\n | ...............^"}},
		},
		{
			name:  "unknown app field",
			src:   `app.version != "" && app.verison == "1"`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 25,
				Message: "app has no field 'verison': it has namespace, previous_version and version",
				Snippet: " | app.version != \"\" && app.verison == \"1\"\n | ........................^"}},
		},
		{
			name:  "unknown cluster field",
			src:   `cluster.nodez.size() > 2`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 8,
				Message: "cluster has no field 'nodez': it has git_version, major, minor, nodes, platform and version",
				Snippet: " | cluster.nodez.size() > 2\n | .......^"}},
		},
		{
			name:  "unknown node field, second line",
			src:   "phase == \"upgrade\" &&\n  cluster.nodes.all(n, n.redy)",
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 2, Column: 25,
				Message: "undefined field 'redy': cluster.nodes[] have allocatable, capacity, kubelet_version, labels, name, ready, taints and unschedulable; cluster.nodes[].taints[] have effect, key and value",
				Snippet: " |   cluster.nodes.all(n, n.redy)\n | ........................^"}},
		},
		{
			name:  "unknown taint field",
			src:   `cluster.nodes[0].taints.exists(t, t.efect == "NoSchedule")`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 36,
				Message: "undefined field 'efect': cluster.nodes[] have allocatable, capacity, kubelet_version, labels, name, ready, taints and unschedulable; cluster.nodes[].taints[] have effect, key and value",
				Snippet: " | cluster.nodes[0].taints.exists(t, t.efect == \"NoSchedule\")\n | ...................................^"}},
		},
		{
			name:  "wrong type of a cluster field",
			src:   `cluster.major == "1"`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 15,
				Message: "found no matching overload for '_==_' applied to '(int, string)'",
				Snippet: " | cluster.major == \"1\"\n | ..............^"}},
		},
		{
			name:  "app is not a map",
			src:   `app["version"] == "1"`,
			scope: analyzer.ScopeWhen,
			want: []analyzer.Issue{{Line: 1, Column: 4,
				Message: "found no matching overload for '_[_]' applied to '(preflight.App, string)'",
				Snippet: " | app[\"version\"] == \"1\"\n | ...^"}},
		},
		{
			name:  "wide characters",
			src:   `stdout == "é" && nod == ""`,
			scope: analyzer.ScopeCondition,
			want: []analyzer.Issue{{Line: 1, Column: 18,
				Message: "undeclared reference to 'nod'",
				Snippet: " | stdout == \"é\" && nod == \"\"\n | ...........．.....^"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := analyzer.Compile(tt.src, tt.scope)
			require.Error(t, err)
			assert.Nil(t, e)
			var xe *analyzer.ExprError
			require.ErrorAs(t, err, &xe)
			if diff := cmp.Diff(tt.want, xe.Issues); diff != "" {
				t.Errorf("issues (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExprErrorRendersEveryIssue(t *testing.T) {
	_, err := analyzer.Compile("foo == 1 &&\nbar == 2", analyzer.ScopeWhen)
	require.Error(t, err)
	assert.Equal(t, "1:1: undeclared reference to 'foo'\n | foo == 1 &&\n | ^\n"+
		"2:1: undeclared reference to 'bar'\n | bar == 2\n | ^", err.Error())
}

func TestCompileAccepts(t *testing.T) {
	// Expressions vendors write: they compile and the static estimate does not refuse them.
	for _, src := range []string{
		`status_code == 0 && stdout.contains("ok")`,
		`stdout.split("\n").exists(l, l.contains("x"))`,
		`output.items.exists(p, p.spec.containers.exists(c, c.image.startsWith("rook/ceph")))`,
		`stdout.find("[0-9]+\\.[0-9]+\\.[0-9]+") != ""`,
		`vars.enabled`, // dyn: checked to be bool when evaluated
		`has(output.status) && output.status.ready == true`,
		`duration < duration("30s")`,
		`cluster.nodes.all(n, quantity(n.allocatable.memory).isGreaterThan(quantity("8Gi")))`,
		`phase == "upgrade" && semver(app.previous_version, true).isLessThan(semver("2.0.0"))`,
		`results["other"] == "success"`,
		`error == "" && node != ""`,
	} {
		t.Run(src, func(t *testing.T) {
			e := mustCompile(t, src, analyzer.ScopeCondition)
			assert.Equal(t, src, e.Source())
			assert.LessOrEqual(t, e.EstimatedCost(), analyzer.StaticCostLimit)
		})
	}
}

func TestUsesCluster(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{`cluster.nodes.size() >= 3`, true},
		{`phase == "install" || semver(cluster.version, true).isGreaterThan(semver("1.30.0"))`, true},
		{`vars.cluster == "x"`, false},
		{`phase == "install"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			assert.Equal(t, tt.want, mustCompile(t, tt.src, analyzer.ScopeWhen).UsesCluster())
		})
	}
}

// ctxFor is the Context the evaluation tests share.
func ctxFor() *analyzer.Context {
	return &analyzer.Context{
		Vars:    map[string]any{"tier": "prod", "replicas": int64(3), "ratio": 0.5, "enabled": true, "list": []any{"a", "b"}, "nested": map[string]any{"k": "v"}},
		App:     analyzer.App{Version: "2.3.1", PreviousVersion: "1.9.0"},
		Phase:   "upgrade",
		Results: map[string]string{"dep": "success"},
	}
}

func TestEval(t *testing.T) {
	in := &analyzer.Input{
		StatusCode: 0,
		Stdout:     `{"items":[{"metadata":{"name":"rook-ceph-operator"},"replicas":2}],"count":1}`,
		Stderr:     "warning: x",
		Node:       "node-1",
		Duration:   1500 * time.Millisecond,
	}
	tests := []struct {
		src  string
		want bool
	}{
		// variables
		{`status_code == 0 && stdout.contains("items")`, true},
		{`stderr.startsWith("warning")`, true},
		{`error == ""`, true},
		{`node == "node-1"`, true},
		{`duration > duration("1s") && duration < duration("2s")`, true},
		{`vars.tier == "prod" && vars.replicas == 3 && vars.replicas > 2 && vars.ratio < 1`, true},
		{`vars.enabled`, true},
		{`vars.list.exists(x, x == "b") && vars.nested.k == "v"`, true},
		{`"missing" in vars`, false},
		{`app.version == "2.3.1" && app.previous_version == "1.9.0"`, true},
		{`phase == "upgrade"`, true},
		{`results["dep"] == "success"`, true},
		// output: JSON of stdout, ints stay ints
		{`output.items[0].metadata.name.startsWith("rook-ceph")`, true},
		{`output.count == 1 && output.items[0].replicas + 1 == 3`, true},
		{`output.items.exists(i, i.metadata.name == "nothing")`, false},
		// Kubernetes libraries
		{`semver(app.version).isLessThan(semver("2.0.0"))`, false},
		{`semver(app.previous_version).isLessThan(semver("2.0.0"))`, true},
		{`semver("v1.30.2", true).isGreaterThan(semver("1.30.0"))`, true},
		{`isSemver("1.2")`, false},
		{`quantity("8Gi").isGreaterThan(quantity("4Gi"))`, true},
		{`quantity("1500m").compareTo(quantity("2")) < 0`, true},
		{`stdout.find("[a-z]+-ceph") == "rook-ceph"`, true},
		{`stdout.findAll("[0-9]+").size() == 2`, true},
		{`url("https://example.com:8443/x?y=1").getPort() == "8443"`, true},
		{`isURL("not a url")`, false},
		{`ip("10.0.0.5").family() == 4 && cidr("10.0.0.0/8").containsIP(ip("10.0.0.5"))`, true},
		{`cidr("192.168.0.0/16").containsIP("10.0.0.1")`, false},
		{`[3, 1, 2].sum() == 6 && [1, 2, 3].isSorted() && ["a", "b"].indexOf("b") == 1`, true},
		{`[[1], [2, 3]].flatten() == [1, 2, 3] && [3, 1].sort() == [1, 3]`, true},
		{`sets.contains([1, 2, 3], [2])`, true},
		{`"a,b".split(",").size() == 2 && "Hello".lowerAscii() == "hello"`, true},
		{`{"a": 1}.exists(k, v, k == "a" && v == 1)`, true},
		{`optional.of(1).hasValue()`, true},
		{`format.dns1123Label().validate("Not_Valid").hasValue()`, true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := mustCompile(t, tt.src, analyzer.ScopeCondition).Eval(context.Background(), ctxFor(), in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEvalErrorsNeverFalse(t *testing.T) {
	in := &analyzer.Input{StatusCode: 1, Stdout: "not json"}
	tests := []struct {
		src  string
		want string
	}{
		{`status_code / 0 == 1`, "1:13: division by zero"},
		{`vars.missing == "x"`, "1:5: no such key: missing"},
		{`output.items.size() > 0`, "1:7: no such key: items"}, // output is null
		{`int(stdout) == 1`, "1:4: type conversion error from 'string' to 'int'"},
		{`vars.tier`, "must evaluate to bool, got string"},
		{`cluster.version == "1.30"`, "1:8: cluster facts are not available: the run has no cluster, or they could not be read"},
		{`semver("x.y").major() == 1`, "1:7: No Major.Minor.Patch elements found"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := mustCompile(t, tt.src, analyzer.ScopeCondition).Eval(context.Background(), ctxFor(), in)
			require.Error(t, err)
			assert.False(t, got)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestEvalOutput(t *testing.T) {
	tests := []struct {
		name string
		in   *analyzer.Input
		src  string
		want bool
	}{
		{"invalid JSON is null", &analyzer.Input{Stdout: "hello {"}, `output == null`, true},
		{"empty stdout is null", &analyzer.Input{Stdout: "  \n"}, `output == null`, true},
		{"scalar JSON", &analyzer.Input{Stdout: " 42\n"}, `output == 42`, true},
		{"big ints keep precision", &analyzer.Input{Stdout: `{"n": 9007199254740993}`}, `output.n == 9007199254740993`, true},
		{"Object wins over stdout", &analyzer.Input{Stdout: `{"a":1}`, Object: map[string]any{"a": int64(2)}}, `output.a == 2`, true},
		{"typed Object through JSON", &analyzer.Input{Object: struct {
			Kind string `json:"kind"`
		}{Kind: "Pod"}}, `output.kind == "Pod"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustCompile(t, tt.src, analyzer.ScopeCondition).Eval(context.Background(), nil, tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEvalNilContextAndInput(t *testing.T) {
	e := mustCompile(t, `phase == "" && app.version == "" && size(vars) == 0 && size(results) == 0`, analyzer.ScopeWhen)
	ok, err := e.Eval(context.Background(), nil, nil)
	require.NoError(t, err)
	assert.True(t, ok)

	_, err = mustCompile(t, `status_code == 0`, analyzer.ScopeCondition).Eval(context.Background(), nil, nil)
	require.EqualError(t, err, "a result condition needs the command's output, and there is none")

	var zero analyzer.Expression
	_, err = zero.Eval(context.Background(), nil, nil)
	require.EqualError(t, err, "expression was not compiled: use analyzer.Compile")
}

// listOf returns n ints as vars gives them.
func listOf(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

func TestEvalCostLimit(t *testing.T) {
	// Cheap to estimate (the sizes come from vars), expensive to run: 1000 scans of 10 KB.
	c := &analyzer.Context{Vars: map[string]any{"l": listOf(1000), "s": strings.Repeat("a", 10000)}}
	e := mustCompile(t, `vars.l.all(x, !vars.s.contains("zz"))`, analyzer.ScopeWhen)
	ok, err := e.Eval(context.Background(), c, nil)
	assert.False(t, ok)
	require.ErrorIs(t, err, analyzer.ErrCostLimit)

	// The same over 10 items is fine.
	c.Vars["l"] = listOf(10)
	ok, err = e.Eval(context.Background(), c, nil)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestEvalCostLimitListFunctions(t *testing.T) {
	// sort costs 2·n² (the lists extension's model), also on a dyn list from vars.
	c := &analyzer.Context{Vars: map[string]any{"l": listOf(2000)}}
	e := mustCompile(t, `vars.l.sort().size() > 0`, analyzer.ScopeWhen)
	_, err := e.Eval(context.Background(), c, nil)
	require.ErrorIs(t, err, analyzer.ErrCostLimit)

	c.Vars["l"] = listOf(100)
	ok, err := e.Eval(context.Background(), c, nil)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestEvalTimeout(t *testing.T) {
	defer analyzer.SetMaxEvalDuration(20 * time.Millisecond)()
	// Under the cost limit, but cel-go's cost tracker makes 50,000 iterations slow.
	c := &analyzer.Context{Vars: map[string]any{"l": listOf(50000)}}
	ok, err := mustCompile(t, `vars.l.all(x, x >= 0)`, analyzer.ScopeWhen).Eval(context.Background(), c, nil)
	assert.False(t, ok)
	require.ErrorIs(t, err, analyzer.ErrEvalTimeout)
}

func TestEvalBudget(t *testing.T) {
	b := analyzer.NewBudget(50)
	c := &analyzer.Context{Vars: map[string]any{"l": []any{int64(1), int64(2), int64(3), int64(4), int64(5)}}, Budget: b}
	e := mustCompile(t, `vars.l.all(x, x > 0)`, analyzer.ScopeWhen)
	var err error
	n := 0
	for ; n < 100 && err == nil; n++ {
		_, err = e.Eval(context.Background(), c, nil)
	}
	require.ErrorIs(t, err, analyzer.ErrBudgetExhausted)
	assert.Greater(t, n, 1)
	assert.Zero(t, b.Remaining())
	assert.GreaterOrEqual(t, b.Spent(), uint64(50))
	// Once spent, nothing more is evaluated.
	_, err = mustCompile(t, `true`, analyzer.ScopeWhen).Eval(context.Background(), c, nil)
	require.ErrorIs(t, err, analyzer.ErrBudgetExhausted)

	var zero analyzer.Budget
	assert.Equal(t, analyzer.DefaultRunBudget, zero.Limit())
}

func TestBudgetConcurrent(t *testing.T) {
	b := &analyzer.Budget{}
	c := &analyzer.Context{Budget: b}
	e := mustCompile(t, `[1, 2, 3].all(x, x > 0)`, analyzer.ScopeWhen)
	cost, err := func() (uint64, error) {
		one := analyzer.NewBudget(1 << 40)
		_, err := e.Eval(context.Background(), &analyzer.Context{Budget: one}, nil)
		return one.Spent(), err
	}()
	require.NoError(t, err)
	require.NotZero(t, cost)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, err := e.Eval(context.Background(), c, nil)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 800*cost, b.Spent())
}

func TestEvalCancellation(t *testing.T) {
	// 1000 scans of 10 KB would reach the cost limit; interrupted at the 100th, it does not.
	c := &analyzer.Context{Vars: map[string]any{"l": listOf(1000), "s": strings.Repeat("a", 10000)}}
	e := mustCompile(t, `vars.l.all(x, !vars.s.contains("zz"))`, analyzer.ScopeWhen)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Eval(ctx, c, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "not evaluated: context canceled", err.Error())

	// Cancelled while running: Err reports nothing before the evaluation starts, Done is
	// closed, so only the interrupt checks inside the comprehension can stop it (without them
	// it would run into the cost limit).
	_, err = e.Eval(&cancelledDuringEval{Context: context.Background()}, c, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, analyzer.ErrCostLimit)
	assert.Contains(t, err.Error(), "evaluation interrupted")
}

// cancelledDuringEval is a context that reports no error on its first Err call (the check
// made before evaluating) and is done from the start.
type cancelledDuringEval struct {
	context.Context
	calls int
}

func (c *cancelledDuringEval) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (c *cancelledDuringEval) Err() error {
	c.calls++
	if c.calls == 1 {
		return nil
	}
	return context.Canceled
}

func TestEvalBoundedExpressionCharges(t *testing.T) {
	// status_code/stdout expressions run without cost tracking; they are charged their
	// static bound for the input's size, and beyond 1 MiB they are tracked as usual.
	e := mustCompile(t, `status_code == 0 && stdout.contains("zz")`, analyzer.ScopeCondition)
	charge := func(stdout string) (uint64, bool) {
		b := analyzer.NewBudget(1 << 40)
		ok, err := e.Eval(context.Background(), &analyzer.Context{Budget: b}, &analyzer.Input{Stdout: stdout})
		require.NoError(t, err)
		return b.Spent(), ok
	}
	small, ok := charge("a zz b")
	assert.True(t, ok)
	assert.NotZero(t, small)
	assert.Less(t, small, uint64(100))

	mid, ok := charge(strings.Repeat("a", 1<<20-2) + "zz")
	assert.True(t, ok)
	assert.Greater(t, mid, uint64(100000), "a 1 MiB scan costs about 1e5")
	assert.Less(t, mid, uint64(500000))

	big, ok := charge(strings.Repeat("a", 4<<20) + "zz")
	assert.True(t, ok)
	assert.InDelta(t, float64(4<<20)/10, float64(big), 1000, "tracked: the actual cost of a 4 MiB scan")
}
