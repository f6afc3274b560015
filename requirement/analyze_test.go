package requirement_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

func ptr[T any](v T) *T { return &v }

func cond(t testing.TB, code *int, isErr *bool, expr string) *requirement.Condition {
	c := &requirement.Condition{StatusCode: code, Error: isErr}
	if expr != "" {
		c.Expr = mustCompile(t, expr, analyzer.ScopeCondition)
	}
	return c
}

func TestAnalyze(t *testing.T) {
	results := []requirement.Result{
		{Status: requirement.StatusError, Message: requirement.Message{Text: "could not run: {{ .why }}", Args: map[string]string{"why": "{{repl .Error }}"}},
			Condition: cond(t, nil, ptr(true), "")},
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: cond(t, ptr(0), nil, `stdout.contains("ready")`)},
		{Status: requirement.StatusWarn, Message: requirement.Message{Text: "exit 0 but not ready: {{repl Trim .Result }}"},
			Condition: cond(t, ptr(0), nil, "")},
		{Status: requirement.StatusError, Message: requirement.Message{Text: "code {{ .c }}", Args: map[string]string{"c": "{{repl .StatusCode }}"}},
			Condition: cond(t, ptr(2), ptr(false), "")},
	}
	tests := []struct {
		name string
		in   *analyzer.Input
		want requirement.Outcome
	}{
		{"first match wins", &analyzer.Input{StatusCode: 0, Stdout: "ready\n"},
			requirement.Outcome{Status: requirement.StatusSuccess, Message: "ok", Matched: 1}},
		{"AND: the status code matches, the expression does not", &analyzer.Input{StatusCode: 0, Stdout: " starting \n"},
			requirement.Outcome{Status: requirement.StatusWarn, Message: "exit 0 but not ready: starting", Matched: 2}},
		{"error condition", &analyzer.Input{StatusCode: 62, Error: "timed out after 15s"},
			requirement.Outcome{Status: requirement.StatusError, Message: "could not run: timed out after 15s", Matched: 0}},
		{"status code and error false", &analyzer.Input{StatusCode: 2},
			requirement.Outcome{Status: requirement.StatusError, Message: "code 2", Matched: 3}},
		{"no match", &analyzer.Input{StatusCode: 7, Node: "n1"},
			requirement.Outcome{Status: requirement.StatusError, Matched: -1,
				Message: `no result of requirement "req" matched (status code 7, node n1): add a result for this case, or a last result without a condition`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&requirement.Requirement{ID: "req", Results: results}).Analyze(context.Background(), nil, tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyzeNoCondition(t *testing.T) {
	results := []requirement.Result{
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "zero"}, Condition: cond(t, ptr(0), nil, "")},
		{Status: requirement.StatusWarn, Message: requirement.Message{Text: "anything else"}},
	}
	got := (&requirement.Requirement{ID: "r", Results: results}).Analyze(context.Background(), nil, &analyzer.Input{StatusCode: 1})
	assert.Equal(t, requirement.Outcome{Status: requirement.StatusWarn, Message: "anything else", Matched: 1}, got)

	// An empty condition matches too.
	got = (&requirement.Requirement{ID: "r", Results: []requirement.Result{{Status: requirement.StatusSuccess, Condition: &requirement.Condition{}}}}).Analyze(context.Background(), nil, &analyzer.Input{StatusCode: 5})
	assert.Equal(t, requirement.Outcome{Status: requirement.StatusSuccess, Matched: 0}, got)
}

func TestAnalyzeNoMatchSummary(t *testing.T) {
	got := (&requirement.Requirement{ID: "dial", Results: nil}).Analyze(context.Background(), nil, &analyzer.Input{StatusCode: 111, Error: strings.Repeat("x", 1000)})
	assert.Equal(t, requirement.StatusError, got.Status)
	assert.Equal(t, -1, got.Matched)
	require.NoError(t, got.Err)
	assert.True(t, strings.HasPrefix(got.Message, `could not check requirement "dial": xxx`), got.Message)
	assert.Less(t, len(got.Message), 450)

	got = (&requirement.Requirement{ID: "dial", Results: nil}).Analyze(context.Background(), nil, &analyzer.Input{StatusCode: 7, Node: "n1"})
	assert.Equal(t, `no result of requirement "dial" matched (status code 7, node n1): add a result for this case, or a last result without a condition`, got.Message)
}

func TestAnalyzeEvalErrorFailsClosed(t *testing.T) {
	results := []requirement.Result{
		{Status: requirement.StatusWarn, Condition: cond(t, ptr(1), nil, `output.never == 1`)},    // skipped: status code differs
		{Status: requirement.StatusSuccess, Condition: cond(t, nil, nil, `output.ready == true`)}, // errors: output is null
		{Status: requirement.StatusSuccess},
	}
	got := (&requirement.Requirement{ID: "r", Results: results}).Analyze(context.Background(), nil, &analyzer.Input{Stdout: "not json"})
	assert.Equal(t, requirement.StatusError, got.Status)
	assert.Equal(t, -1, got.Matched)
	require.EqualError(t, got.Err, "results[1].condition.expr: 1:7: no such key: ready")

	// A cancelled context is an error too, never a pass.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got = (&requirement.Requirement{ID: "r", Results: results[1:]}).Analyze(ctx, nil, &analyzer.Input{Stdout: `{"ready":true}`})
	assert.Equal(t, requirement.StatusError, got.Status)
	require.ErrorIs(t, got.Err, context.Canceled)
}

func TestAnalyzeInvalid(t *testing.T) {
	got := (&requirement.Requirement{ID: "r", Results: []requirement.Result{{Status: "pass"}}}).Analyze(context.Background(), nil, &analyzer.Input{})
	assert.Equal(t, requirement.StatusError, got.Status)
	require.EqualError(t, got.Err, `results[0].status: "pass" is not one of success, warn, error`)

	got = (&requirement.Requirement{ID: "r", Results: []requirement.Result{{Status: requirement.StatusSuccess}}}).Analyze(context.Background(), nil, nil)
	assert.Equal(t, requirement.StatusError, got.Status)
	require.EqualError(t, got.Err, `requirement "r": no command output to analyse`)
}

func TestAnalyzeOutputAcrossResults(t *testing.T) {
	results := []requirement.Result{
		{Status: requirement.StatusError, Condition: cond(t, nil, nil, `output.items.size() == 0`)},
		{Status: requirement.StatusSuccess, Condition: cond(t, nil, nil, `output.items[0].name == "a"`)},
	}
	in := &analyzer.Input{Stdout: `{"items":[{"name":"a"}]}`}
	got := (&requirement.Requirement{ID: "r", Results: results}).Analyze(context.Background(), &analyzer.Context{Budget: &analyzer.Budget{}}, in)
	assert.Equal(t, requirement.Outcome{Status: requirement.StatusSuccess, Matched: 1}, got)
}

func TestAnalyzeBudget(t *testing.T) {
	b := analyzer.NewBudget(1)
	results := []requirement.Result{{Status: requirement.StatusSuccess, Condition: cond(t, nil, nil, `stdout == "x" && stderr == ""`)}}
	got := (&requirement.Requirement{ID: "r", Results: results}).Analyze(context.Background(), &analyzer.Context{Budget: b}, &analyzer.Input{Stdout: "x"})
	assert.Equal(t, requirement.StatusError, got.Status)
	assert.True(t, errors.Is(got.Err, analyzer.ErrBudgetExhausted), "%v", got.Err)
}

// A command that could not produce a result is handled only by a condition that says
// `error: true`: status codes, expressions and catch-alls are for answers, and a failure to
// run must never match a success written for one.
func TestAnalyzeErrorOnlyMatchesErrorConditions(t *testing.T) {
	failed := analyzer.Input{StatusCode: 1, Error: "pod refused: forbidden"}
	tests := []struct {
		name    string
		results []requirement.Result
		want    requirement.Status
		matched int
	}{
		{"status code written for an answer", []requirement.Result{
			{Status: requirement.StatusSuccess, Condition: cond(t, ptr(1), nil, "")}}, requirement.StatusError, -1},
		{"catch-all without a condition", []requirement.Result{
			{Status: requirement.StatusSuccess}}, requirement.StatusError, -1},
		{"expression", []requirement.Result{
			{Status: requirement.StatusSuccess, Condition: cond(t, nil, nil, `status_code == 1`)}}, requirement.StatusError, -1},
		{"error: false", []requirement.Result{
			{Status: requirement.StatusSuccess, Condition: cond(t, nil, ptr(false), "")}}, requirement.StatusError, -1},
		{"error: true handles it", []requirement.Result{
			{Status: requirement.StatusSuccess, Condition: cond(t, ptr(1), nil, "")},
			{Status: requirement.StatusWarn, Condition: cond(t, nil, ptr(true), "")}}, requirement.StatusWarn, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&requirement.Requirement{ID: "r", Results: tt.results}).Analyze(context.Background(), nil, &failed)
			assert.Equal(t, tt.want, got.Status)
			assert.Equal(t, tt.matched, got.Matched)
		})
	}
}

func mustCompile(t testing.TB, src string, scope analyzer.Scope) *analyzer.Expression {
	t.Helper()
	e, err := analyzer.Compile(src, scope)
	require.NoError(t, err, "compile %q", src)
	return e
}

// An output cut at its limit cannot pass on what was cut: a success decided by conditions
// that read the output, none of which reads `truncated`, is an error wrapping
// ErrTruncatedOutput. Failing is always allowed, and so is a success that does not depend on
// the output or whose conditions say what a cut output means.
func TestAnalyzeTruncatedOutput(t *testing.T) {
	res := func(s requirement.Status, code *int, expr string) requirement.Result {
		r := requirement.Result{Status: s, Message: requirement.Message{Text: string(s)}}
		if code != nil || expr != "" {
			r.Condition = cond(t, code, nil, expr)
		}
		return r
	}
	success, warn, fail := requirement.StatusSuccess, requirement.StatusWarn, requirement.StatusError
	const late = "line\n" // "ERROR" came after the cut
	tests := []struct {
		name    string
		results []requirement.Result
		in      *analyzer.Input
		matched int // -1: refused
	}{
		{"success on !contains", []requirement.Result{res(success, nil, `!stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late, Truncated: true}, -1},
		{"the same, whole output", []requirement.Result{res(success, nil, `!stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late}, 0},
		{"catch-all success after an error result that read stdout", []requirement.Result{res(fail, nil, `stdout.contains("ERROR")`), res(success, nil, "")},
			&analyzer.Input{Stdout: late, Truncated: true}, -1},
		{"catch-all success after a status code", []requirement.Result{res(fail, ptr(1), ""), res(success, nil, "")},
			&analyzer.Input{Stdout: late, Truncated: true}, 1},
		{"stderr counts", []requirement.Result{res(success, ptr(0), `stderr == ""`)},
			&analyzer.Input{Stdout: late, Truncated: true}, -1},
		{"output parsed from stdout counts", []requirement.Result{res(success, nil, `output == null`)},
			&analyzer.Input{Stdout: late, Truncated: true}, -1},
		{"output the command gave whole does not", []requirement.Result{res(success, nil, `output.ready`)},
			&analyzer.Input{Stdout: `{"rea`, Object: map[string]any{"ready": true}, Truncated: true}, 0},
		{"an expression on the status code only", []requirement.Result{res(success, nil, `status_code == 0`)},
			&analyzer.Input{Stdout: late, Truncated: true}, 0},
		{"an expression not evaluated (status code differs) does not count", []requirement.Result{res(fail, ptr(3), `stdout.contains("ERROR")`), res(success, nil, "")},
			&analyzer.Input{Stdout: late, Truncated: true}, 1},
		{"a warning is fine", []requirement.Result{res(warn, nil, `!stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late, Truncated: true}, 0},
		{"an error is fine", []requirement.Result{res(fail, nil, `!stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late, Truncated: true}, 0},
		{"an earlier result handles truncated", []requirement.Result{res(fail, nil, `truncated`), res(success, nil, `!stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late, Truncated: true}, 0},
		{"the success reads truncated", []requirement.Result{res(success, nil, `!truncated && !stdout.contains("ERROR")`), res(warn, nil, "")},
			&analyzer.Input{Stdout: late, Truncated: true}, 1},
		{"the author accepts a cut output", []requirement.Result{res(success, nil, `truncated || !stdout.contains("ERROR")`)},
			&analyzer.Input{Stdout: late, Truncated: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&requirement.Requirement{ID: "logs", Results: tt.results}).Analyze(context.Background(), nil, tt.in)
			if tt.matched >= 0 {
				require.NoError(t, got.Err)
				assert.Equal(t, tt.matched, got.Matched)
				assert.Equal(t, tt.results[tt.matched].Status, got.Status)
				return
			}
			assert.Equal(t, requirement.StatusError, got.Status)
			assert.Equal(t, -1, got.Matched)
			require.ErrorIs(t, got.Err, requirement.ErrTruncatedOutput)
			assert.Contains(t, got.Err.Error(), "raise the output limit (runner.Options.OutputLimit; preflight run --output-limit)")
		})
	}
}

func TestAnalyzeTruncatedOutputMessage(t *testing.T) {
	results := []requirement.Result{
		{Status: requirement.StatusError, Condition: cond(t, nil, nil, `stdout.contains("ERROR")`)},
		{Status: requirement.StatusWarn, Condition: cond(t, ptr(2), nil, `stderr != ""`)},
		{Status: requirement.StatusSuccess, Condition: cond(t, ptr(0), nil, "")},
	}
	got := (&requirement.Requirement{ID: "logs", Results: results}).Analyze(context.Background(), nil, &analyzer.Input{Stdout: "x", Truncated: true})
	assert.EqualError(t, got.Err, "the command's output was cut at the output limit, and results[2] (success) matched on conditions that read it "+
		"(results[0].condition.expr) and not `truncated`: what was cut was not checked; raise the output limit "+
		"(runner.Options.OutputLimit; preflight run --output-limit) or say what a cut output means, with a result before it such as "+
		"{status: error, condition: {expr: truncated}}")
}
