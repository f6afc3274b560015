package requirement_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// manyResults returns a spec of one requirement with as many results as fit in maxBytes,
// each with a distinct condition: the CEL expression status_code == i when cel is set, else
// status_code: i (no CEL).
func manyResults(maxBytes int, cel bool) string {
	var b strings.Builder
	b.WriteString("custom_requirements:\n- id: many\n  command: {id: exec, data: {cmd: [ls]}}\n  results:\n")
	for i := 0; ; i++ {
		line := fmt.Sprintf("  - {status: warn, condition: {status_code: %d}}\n", i)
		if cel {
			line = fmt.Sprintf("  - {status: warn, condition: {expr: 'status_code == %d'}}\n", i)
		}
		if b.Len()+len(line) > maxBytes {
			return b.String()
		}
		b.WriteString(line)
	}
}

// allocated returns the bytes load allocates.
func allocated(load func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	load()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestExpressionLimitsHostile loads the input of the hostile-input issue: a 4 MiB spec of
// distinct CEL expressions (73,776 there, which took 61 s and 4.8 GB to validate). The load
// must fail on Limits.MaxExpressions before compiling any of them: it allocates no more than
// loading a spec of the same size without CEL (parsing the YAML is all it does), where
// compiling the first 2000 alone would allocate about 200 MB more, all of them several GB.
func TestExpressionLimitsHostile(t *testing.T) {
	src := manyResults(requirement.DefaultMaxBytes, true)
	count := strings.Count(src, "status_code ==")
	require.Greater(t, count, 60000)
	var (
		spec *requirement.Spec
		err  error
	)
	hostile := allocated(func() { spec, err = loadString(t, requirement.LoadOptions{}, src) })
	require.Nil(t, spec)
	ps := problems(t, err)
	require.Len(t, ps, 2, "%v", err)
	assert.Equal(t, fmt.Sprintf("the spec has %d distinct CEL expressions, more than 2000 (the limit, Limits.MaxExpressions); "+
		"every distinct expression is compiled when the spec loads; split the spec into smaller ones run one after the other, "+
		"or reuse the same expression text where the checks are the same", count), ps[0].Message)
	assert.Equal(t, "custom_requirements[0].results[2000].condition.expr", ps[0].Location.Path, "the first expression past the limit")
	assert.Equal(t, 2005, ps[0].Location.Line)
	assert.Contains(t, ps[1].Message, "(the limit, Limits.MaxExpressionBytes;")

	plain := manyResults(requirement.DefaultMaxBytes, false)
	baseline := allocated(func() { _, err = loadString(t, requirement.LoadOptions{}, plain) })
	require.NoError(t, err, "the same size without CEL loads")
	t.Logf("refused %d expressions (%d bytes of YAML) after allocating %d MB; the same size without CEL: %d MB",
		count, len(src), hostile>>20, baseline>>20)
	assert.LessOrEqual(t, hostile, baseline, "refusing the expressions allocated more than loading a spec of the same size without CEL")
}

// TestExpressionLimits checks what the limits count: distinct texts per scope, across
// requirements and documents, and their bytes; and that a spec within them loads.
func TestExpressionLimits(t *testing.T) {
	req := func(id, when, expr string) string {
		s := fmt.Sprintf("- id: %s\n  command: {id: exec, data: {cmd: [ls]}}\n", id)
		if when != "" {
			s += fmt.Sprintf("  when: '%s'\n", when)
		}
		return s + fmt.Sprintf("  results:\n  - {status: success, condition: {expr: '%s'}}\n  - {status: error, condition: {bool_expr: 'true'}}\n", expr)
	}
	spec := func(reqs ...string) string { return "custom_requirements:\n" + strings.Join(reqs, "") }
	tests := []struct {
		name   string
		limits requirement.Limits
		src    string
		path   string // where the problem is; "" when the spec loads
		msg    string
	}{
		{name: "repeated texts count once", limits: requirement.Limits{MaxExpressions: 2},
			src: spec(req("a", "", "status_code == 0"), req("b", "", "status_code == 0"), req("c", "", "status_code == 0"))},
		{name: "a when and a condition of the same text are two", limits: requirement.Limits{MaxExpressions: 2},
			src:  spec(req("a", "true", "status_code == 0")),
			path: "custom_requirements[0].results[1].condition.bool_expr", msg: "the spec has 3 distinct CEL expressions, more than 2 (the limit, Limits.MaxExpressions)"},
		{name: "across documents", limits: requirement.Limits{MaxExpressions: 3},
			src:  spec(req("a", "", "status_code == 0")) + "---\n" + spec(req("b", "", "status_code == 1"), req("c", "", "status_code == 2")),
			path: "custom_requirements[1].results[0].condition.expr", msg: "the spec has 4 distinct CEL expressions, more than 3"},
		{name: "bytes", limits: requirement.Limits{MaxExpressionBytes: 30},
			src:  spec(req("a", "", "status_code == 0"), req("b", "", "status_code == 1")),
			path: "custom_requirements[1].results[0].condition.expr", msg: "the spec's distinct CEL expressions count 36 bytes together, more than 30 (the limit, Limits.MaxExpressionBytes;"},
		{name: "an expression of 256 bytes counts its length", limits: requirement.Limits{MaxExpressionBytes: 256 + 4},
			src: spec(req("a", "", padded(256)))},
		{name: "a longer expression counts its length times its length over 256", limits: requirement.Limits{MaxExpressionBytes: 4095 + 4},
			src:  spec(req("a", "", padded(1024))),
			path: "custom_requirements[0].results[1].condition.bool_expr", msg: "count 4100 bytes together, more than 4099 (the limit, Limits.MaxExpressionBytes; an expression longer than 256 bytes counts its length times its length over 256)"},
		{name: "exactly at the limits", limits: requirement.Limits{MaxExpressions: 3, MaxExpressionBytes: 36},
			src: spec(req("a", "", "status_code == 0"), req("b", "", "status_code == 1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadString(t, requirement.LoadOptions{Limits: tt.limits}, tt.src)
			if tt.path == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Nil(t, s)
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			assert.Equal(t, tt.path, ps[0].Location.Path)
			assert.Contains(t, ps[0].Message, tt.msg)
		})
	}
}

// TestExpressionLimitsCountEveryKind checks that the count before compiling sees every
// expression the loader compiles, told apart as the compiler tells them apart: a when, a
// message_expr, a condition, a K_expr key of command data, and the same condition text in a
// requirement whose conditions see Secrets and in one whose do not. At the limit the spec
// loads; one below, the count names the expression past it (were one not counted, the
// compiler's own guard would refuse it instead, with another message).
func TestExpressionLimitsCountEveryKind(t *testing.T) {
	const src = `custom_requirements:
- id: a
  when: 'phase == "install"'
  command: {id: tcp_dial, data: {addr_expr: '"localhost:" + string(80)'}}
  results:
  - {status: success, message_expr: '"reached " + stdout', condition: {expr: 'status_code == 0'}}
  - {status: error}
- id: secret
  command: {id: kubernetes, data: {api_version: v1, kind: Secret, name: db, include_secret_values: true}}
  results:
  - {status: success, condition: {expr: 'status_code == 0'}}
  - {status: error}
`
	reg := command.Builtins()
	s, err := loadString(t, requirement.LoadOptions{Registry: reg, Limits: requirement.Limits{MaxExpressions: 5}}, src)
	require.NoError(t, err)
	require.Len(t, s.Requirements, 2)
	for max, path := range map[int]string{
		4: "custom_requirements[1].results[0].condition.expr",
		3: "custom_requirements[0].command.data.addr_expr",
		2: "custom_requirements[0].results[0].condition.expr",
		1: "custom_requirements[0].results[0].message_expr",
	} {
		_, err := loadString(t, requirement.LoadOptions{Registry: reg, Limits: requirement.Limits{MaxExpressions: max}}, src)
		ps := problems(t, err)
		require.Len(t, ps, 1, "limit %d: %v", max, err)
		assert.Equal(t, path, ps[0].Location.Path, "limit %d", max)
		assert.Contains(t, ps[0].Message, fmt.Sprintf("the spec has 5 distinct CEL expressions, more than %d (the limit, Limits.MaxExpressions)", max))
	}
}

// padded returns a condition n bytes long.
func padded(n int) string {
	const head = `stdout == "`
	return head + strings.Repeat("x", n-len(head)-1) + `"`
}

// TestRealisticSpecLoads checks that the default limits take a large realistic spec: 500
// requirements with a when and two conditions each, 1500 distinct expressions.
func TestRealisticSpecLoads(t *testing.T) {
	s, err := loadString(t, requirement.LoadOptions{}, string(specN(500)))
	require.NoError(t, err)
	require.Len(t, s.Requirements, 500)
}
