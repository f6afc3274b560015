package celenv

import (
	"context"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/cel/environment"
)

// cost evaluates src in the when environment with vars and returns its actual cost.
func cost(t *testing.T, src string, vars map[string]any) uint64 {
	t.Helper()
	env, err := When()
	require.NoError(t, err)
	ast, iss := env.Compile(src)
	require.NoError(t, iss.Err(), src)
	prg, err := Program(ast)
	require.NoError(t, err)
	act := map[string]any{VarVars: vars, VarApp: map[string]string{}, VarPhase: "", VarCluster: map[string]any{}, VarResults: map[string]string{}}
	_, det, err := prg.ContextEval(context.Background(), act)
	require.NoError(t, err, src)
	return *det.ActualCost()
}

func TestDynListFunctionsCostAsTyped(t *testing.T) {
	// A list from vars is dyn: cel-go's own trackers only see typed overloads; runtimeCost
	// must charge the same as for the typed literal.
	vars := map[string]any{
		"l": []any{int64(5), int64(3), int64(1), int64(4), int64(2), int64(3)},
		"s": []any{"b", "a", "c"},
		"n": []any{[]any{int64(1)}, []any{int64(2), int64(3)}},
	}
	tests := []struct{ dyn, typed string }{
		{`vars.l.sort().size() > 0`, `[5, 3, 1, 4, 2, 3].sort().size() > 0`},
		{`vars.s.sort().size() > 0`, `["b", "a", "c"].sort().size() > 0`},
		{`vars.l.distinct().size() > 0`, `[5, 3, 1, 4, 2, 3].distinct().size() > 0`},
		{`vars.l.reverse().size() > 0`, `[5, 3, 1, 4, 2, 3].reverse().size() > 0`},
		{`vars.l.slice(1, 4).size() > 0`, `[5, 3, 1, 4, 2, 3].slice(1, 4).size() > 0`},
		{`vars.n.flatten().size() > 0`, `[[1], [2, 3]].flatten().size() > 0`},
		{`sets.contains(vars.l, [1, 2])`, `sets.contains([5, 3, 1, 4, 2, 3], [1, 2])`},
	}
	for _, tt := range tests {
		t.Run(tt.dyn, func(t *testing.T) {
			typed := cost(t, tt.typed, vars)
			dyn := cost(t, tt.dyn, vars)
			// The dyn form reads vars.x: one select and one ident more.
			assert.InDelta(t, float64(typed), float64(dyn), 3, "typed %d, dyn %d", typed, dyn)
			assert.Greater(t, dyn, uint64(6), "the call itself must be charged by size")
		})
	}
}

func TestProgramsSameResultAndCostAsKubernetes(t *testing.T) {
	// A program planned in the program environment evaluates like one planned in Kubernetes'
	// environment (the checking one, with the base's program options and the lists and sets
	// extensions' own cost trackers): the same value, and the same cost, within the one
	// select or ident a call through runtimeCost may differ by.
	env, err := Condition()
	require.NoError(t, err)
	act := map[string]any{VarStatusCode: 0, VarStdout: "all ok", VarApp: map[string]string{}}
	for _, src := range []string{
		`status_code == 0 && stdout.contains("ok") && semver("1.2.3").isLessThan(semver("2.0.0"))`,
		`[5, 3, 1, 4, 2, 3].sort().size() > 0 && ["b", "a"].sort()[0] == "a"`,
		`[5, 3, 1, 4, 2, 3].distinct().reverse().slice(1, 3).size() == 2`,
		`[[1], [2, 3]].flatten().size() == 3 && lists.range(4).size() == 4`,
		`sets.contains([1, 2, 3], [2]) && sets.intersects([1], [1, 2]) && !sets.equivalent([1], [2])`,
		`[{"k": 2}, {"k": 1}].sortBy(e, e.k)[0].k == 1`,
		`stdout.find("[a-z]+") == "all" && optional.none().or(optional.of(1)).value() == 1 && optional.none().orValue(2) == 2`,
	} {
		t.Run(src, func(t *testing.T) {
			ast, iss := env.Compile(src)
			require.NoError(t, iss.Err())
			ours, err := Program(ast)
			require.NoError(t, err)
			opts, err := ProgramOptions()
			require.NoError(t, err)
			k8s, err := env.Program(ast, opts...)
			require.NoError(t, err)
			v1, d1, err := ours.Eval(act)
			require.NoError(t, err)
			v2, d2, err := k8s.Eval(act)
			require.NoError(t, err)
			assert.Equal(t, types.True, v1)
			assert.Equal(t, v2, v1)
			assert.InDelta(t, float64(*d2.ActualCost()), float64(*d1.ActualCost()), 2)
			fast, err := UntrackedProgram(ast)
			require.NoError(t, err)
			v3, _, err := fast.Eval(act)
			require.NoError(t, err)
			assert.Equal(t, v1, v3)
		})
	}
}

func TestEnvironmentsBuildOnce(t *testing.T) {
	a, err := When()
	require.NoError(t, err)
	b, err := When()
	require.NoError(t, err)
	assert.Same(t, a, b)
	c, err := Condition()
	require.NoError(t, err)
	// Condition variables are not visible to when.
	_, iss := a.Compile(`stdout == ""`)
	assert.Error(t, iss.Err())
	_, iss = c.Compile(`stdout == "" && vars.x == 1`)
	assert.NoError(t, iss.Err())
	var _ *cel.Env = c
}

func TestBoundCost(t *testing.T) {
	env, err := Condition()
	require.NoError(t, err)
	tests := []struct {
		src     string
		bounded bool
	}{
		{`status_code == 0 && stdout.contains("ok")`, true},
		{`error == "" && stderr.startsWith("warn") && node != "n1"`, true},
		{`stdout.matches("^v[0-9]+") && stdout.endsWith("x")`, true},
		{`vars.tier == "prod"`, true}, // equality costs 1 in the cost model
		{`semver(app.version).isLessThan(semver("2.0.0")) && phase == "upgrade"`, true},
		{`[1, 2, 3].exists(x, x == status_code)`, true},
		{`size(stdout.split("\n", 3)) > 2`, true},
		{`size(stdout.split("\n")) > 2`, false}, // a million strings from 1 MiB of newlines
		{`stdout.replace("ab", "c") != ""`, true},
		{`stdout.replace("", "x") != ""`, true}, // 2 MiB written at 1 MiB: 419,431
		{`stdout.replace("a", stdout) != ""`, false},
		{`"%s: %d".format([stdout, status_code]) != ""`, false}, // 2 MiB read and written
		{`"%d-%d".format([status_code, status_code]) != ""`, true},
		{`"%s".format([vars.x]) != ""`, false},                          // vars: unknown size
		{`stdout.matches(vars.re)`, false},                              // a pattern only the run knows
		{`vars.tier.contains("prod")`, false},                           // vars: unknown size
		{`output.items.exists(i, i.name == "x")`, false},                // unknown size
		{`stdout.split("\n").exists(l, l.contains("x"))`, false},        // 1 MiB lines × 1 MiB each
		{`stdout.find("[0-9]+\\.[0-9]+\\.[0-9]+-[a-z]+") != ""`, false}, // over half the per-call limit at 1 MiB
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			ast, iss := env.Compile(tt.src)
			require.NoError(t, iss.Err())
			_, ok := BoundCost(env, ast)
			assert.Equal(t, tt.bounded, ok)
		})
	}
}

// The bound must never be below what the tracked program charges, whatever the sizes of the
// bounded inputs up to OutputSizeBound.
func TestBoundCoversActualCost(t *testing.T) {
	env, err := Condition()
	require.NoError(t, err)
	for _, src := range []string{
		`status_code == 0 && stdout.contains("ok")`,
		`error == "" && stderr.startsWith("warn") || node == stdout`,
		`stdout.matches("^v[0-9]+") || stdout.lowerAscii().endsWith("x")`,
		`stdout.find("[a-z]+") == "zz" || stderr.matches("^[0-9]+$")`,
		`size(stdout.split("\n", 3)) > 2 && stderr.trim() != ""`,
		`stdout.replace("a\n", "c") != "" || stderr == "x"`,
		`"%d-%d".format([status_code, status_code]) != "" && strings.quote(node) != ""`,
		`stdout.charAt(0) == "a" || stdout.matches("a\\n(a|b)$")`,
		`stdout.findAll("b+", 4).size() > 2 || matches(stderr, "^(a\\n)*$")`,
		`semver(app.version, true).isLessThan(semver("2.0.0")) || phase == "upgrade"`,
		`stdout.indexOf("needle") > 0 || stdout.substring(1) == ""`,
		`stdout.lastIndexOf("x") == 3 || stderr.indexOf("a\nb", 2) == 0`,
	} {
		ast, iss := env.Compile(src)
		require.NoError(t, iss.Err(), src)
		bound, ok := BoundCost(env, ast)
		require.True(t, ok, src)
		prg, err := Program(ast)
		require.NoError(t, err)
		for _, n := range []int{0, 1, 9, 100, 4096, 1 << 16, 1 << 20} {
			text := strings.Repeat("a\n", n/2) + strings.Repeat("b", n%2)
			act := map[string]any{VarStatusCode: 0, VarStdout: text, VarStderr: text, VarError: text, VarNode: text,
				VarPhase: text, VarApp: map[string]string{AppVersion: "1.2.3", AppPreviousVersion: ""}}
			_, det, _ := prg.Eval(act)
			require.NotNil(t, det)
			assert.LessOrEqual(t, *det.ActualCost(), bound.Cost(n), "%s at %d bytes (bound %+v)", src, n, bound)
		}
	}
}

// The pinned compatibility version follows the vendored k8s.io/apiserver's default: when an
// upgrade moves it, review what the base environment gained and bump compatibilityVersion.
func TestCompatibilityVersionIsKubernetesDefault(t *testing.T) {
	assert.Equal(t, environment.DefaultCompatibilityVersion().String(), compatibilityVersion.String())
}

// app and cluster are declared objects: a field that does not exist is a compile error;
// values are Go maps at run time, in the tracked and the untracked program alike.
func TestDeclaredObjects(t *testing.T) {
	env, err := When()
	require.NoError(t, err)
	for _, src := range []string{`app.verison == ""`, `cluster.nodez.size() > 0`, `cluster.nodes.all(n, n.lables.size() > 0)`,
		`cluster.nodes.all(n, n.taints.all(t, t.efect != ""))`, `size(app) > 0`} {
		_, iss := env.Compile(src)
		assert.Error(t, iss.Err(), src)
	}
	act := map[string]any{
		VarApp: map[string]string{AppVersion: "2.0.0", AppPreviousVersion: "1.9.0"},
		VarCluster: map[string]any{"version": "1.35.0", "major": int64(1), "nodes": []any{
			map[string]any{"name": "n1", "ready": true, "labels": map[string]any{"zone": "a"}, "taints": []any{}},
		}},
	}
	for _, src := range []string{
		`app.version == "2.0.0" && app.previous_version.startsWith("1.")`,
		`cluster.major == 1 && cluster.nodes.exists(n, n.ready && n.labels.zone == "a" && n.taints.size() == 0)`,
	} {
		ast, iss := env.Compile(src)
		require.NoError(t, iss.Err(), src)
		for _, build := range []func(*cel.Ast) (cel.Program, error){Program, UntrackedProgram} {
			prg, err := build(ast)
			require.NoError(t, err)
			v, _, err := prg.Eval(act)
			require.NoError(t, err, src)
			assert.Equal(t, types.True, v, src)
		}
	}
}
