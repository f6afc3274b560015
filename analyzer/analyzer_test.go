package analyzer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
)

func ptr[T any](v T) *T { return &v }

func cond(t testing.TB, code *int, isErr *bool, expr string) *analyzer.Condition {
	c := &analyzer.Condition{StatusCode: code, Error: isErr}
	if expr != "" {
		c.Expr = mustCompile(t, expr, analyzer.ScopeCondition)
	}
	return c
}

func TestAnalyze(t *testing.T) {
	results := []analyzer.Result{
		{Status: analyzer.StatusError, Message: analyzer.Message{Text: "could not run: {{ .why }}", Args: map[string]string{"why": "{{repl .Error }}"}},
			Condition: cond(t, nil, ptr(true), "")},
		{Status: analyzer.StatusSuccess, Message: analyzer.Message{Text: "ok"},
			Condition: cond(t, ptr(0), nil, `stdout.contains("ready")`)},
		{Status: analyzer.StatusWarn, Message: analyzer.Message{Text: "exit 0 but not ready: {{repl Trim .Result }}"},
			Condition: cond(t, ptr(0), nil, "")},
		{Status: analyzer.StatusError, Message: analyzer.Message{Text: "code {{ .c }}", Args: map[string]string{"c": "{{repl .StatusCode }}"}},
			Condition: cond(t, ptr(2), ptr(false), "")},
	}
	tests := []struct {
		name string
		in   analyzer.Input
		want analyzer.Outcome
	}{
		{"first match wins", analyzer.Input{StatusCode: 0, Stdout: "ready\n"},
			analyzer.Outcome{Status: analyzer.StatusSuccess, Message: "ok", Matched: 1}},
		{"AND: the status code matches, the expression does not", analyzer.Input{StatusCode: 0, Stdout: " starting \n"},
			analyzer.Outcome{Status: analyzer.StatusWarn, Message: "exit 0 but not ready: starting", Matched: 2}},
		{"error condition", analyzer.Input{StatusCode: 62, Error: "timed out after 15s"},
			analyzer.Outcome{Status: analyzer.StatusError, Message: "could not run: timed out after 15s", Matched: 0}},
		{"status code and error false", analyzer.Input{StatusCode: 2},
			analyzer.Outcome{Status: analyzer.StatusError, Message: "code 2", Matched: 3}},
		{"no match", analyzer.Input{StatusCode: 7, Node: "n1"},
			analyzer.Outcome{Status: analyzer.StatusError, Matched: -1,
				Message: `no result of requirement "req" matched (status code 7, node n1): add a result for this case, or a last result without a condition`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := analyzer.Analyze(context.Background(), "req", results, nil, &tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyzeNoCondition(t *testing.T) {
	results := []analyzer.Result{
		{Status: analyzer.StatusSuccess, Message: analyzer.Message{Text: "zero"}, Condition: cond(t, ptr(0), nil, "")},
		{Status: analyzer.StatusWarn, Message: analyzer.Message{Text: "anything else"}},
	}
	got := analyzer.Analyze(context.Background(), "r", results, nil, &analyzer.Input{StatusCode: 1})
	assert.Equal(t, analyzer.Outcome{Status: analyzer.StatusWarn, Message: "anything else", Matched: 1}, got)

	// An empty condition matches too.
	got = analyzer.Analyze(context.Background(), "r", []analyzer.Result{{Status: analyzer.StatusSuccess, Condition: &analyzer.Condition{}}}, nil, &analyzer.Input{StatusCode: 5})
	assert.Equal(t, analyzer.Outcome{Status: analyzer.StatusSuccess, Matched: 0}, got)
}

func TestAnalyzeNoMatchSummary(t *testing.T) {
	got := analyzer.Analyze(context.Background(), "dial", nil, nil, &analyzer.Input{StatusCode: 111, Error: strings.Repeat("x", 1000)})
	assert.Equal(t, analyzer.StatusError, got.Status)
	assert.Equal(t, -1, got.Matched)
	require.NoError(t, got.Err)
	assert.True(t, strings.HasPrefix(got.Message, `could not check requirement "dial": xxx`), got.Message)
	assert.Less(t, len(got.Message), 450)

	got = analyzer.Analyze(context.Background(), "dial", nil, nil, &analyzer.Input{StatusCode: 7, Node: "n1"})
	assert.Equal(t, `no result of requirement "dial" matched (status code 7, node n1): add a result for this case, or a last result without a condition`, got.Message)
}

func TestAnalyzeEvalErrorFailsClosed(t *testing.T) {
	results := []analyzer.Result{
		{Status: analyzer.StatusWarn, Condition: cond(t, ptr(1), nil, `output.never == 1`)},    // skipped: status code differs
		{Status: analyzer.StatusSuccess, Condition: cond(t, nil, nil, `output.ready == true`)}, // errors: output is null
		{Status: analyzer.StatusSuccess},
	}
	got := analyzer.Analyze(context.Background(), "r", results, nil, &analyzer.Input{Stdout: "not json"})
	assert.Equal(t, analyzer.StatusError, got.Status)
	assert.Equal(t, -1, got.Matched)
	require.EqualError(t, got.Err, "results[1].condition.expr: 1:7: no such key: ready")

	// A cancelled context is an error too, never a pass.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got = analyzer.Analyze(ctx, "r", results[1:], nil, &analyzer.Input{Stdout: `{"ready":true}`})
	assert.Equal(t, analyzer.StatusError, got.Status)
	require.ErrorIs(t, got.Err, context.Canceled)
}

func TestAnalyzeInvalid(t *testing.T) {
	got := analyzer.Analyze(context.Background(), "r", []analyzer.Result{{Status: "pass"}}, nil, &analyzer.Input{})
	assert.Equal(t, analyzer.StatusError, got.Status)
	require.EqualError(t, got.Err, `results[0].status: "pass" is not one of success, warn, error`)

	got = analyzer.Analyze(context.Background(), "r", []analyzer.Result{{Status: analyzer.StatusSuccess}}, nil, nil)
	assert.Equal(t, analyzer.StatusError, got.Status)
	require.EqualError(t, got.Err, `requirement "r": no command output to analyse`)
}

func TestAnalyzeOutputAcrossResults(t *testing.T) {
	results := []analyzer.Result{
		{Status: analyzer.StatusError, Condition: cond(t, nil, nil, `output.items.size() == 0`)},
		{Status: analyzer.StatusSuccess, Condition: cond(t, nil, nil, `output.items[0].name == "a"`)},
	}
	in := &analyzer.Input{Stdout: `{"items":[{"name":"a"}]}`}
	got := analyzer.Analyze(context.Background(), "r", results, &analyzer.Context{Budget: &analyzer.Budget{}}, in)
	assert.Equal(t, analyzer.Outcome{Status: analyzer.StatusSuccess, Matched: 1}, got)
}

func TestAnalyzeBudget(t *testing.T) {
	b := analyzer.NewBudget(1)
	results := []analyzer.Result{{Status: analyzer.StatusSuccess, Condition: cond(t, nil, nil, `stdout == "x" && stderr == ""`)}}
	got := analyzer.Analyze(context.Background(), "r", results, &analyzer.Context{Budget: b}, &analyzer.Input{Stdout: "x"})
	assert.Equal(t, analyzer.StatusError, got.Status)
	assert.True(t, errors.Is(got.Err, analyzer.ErrBudgetExhausted), "%v", got.Err)
}

func TestMessageRender(t *testing.T) {
	in := &analyzer.Input{StatusCode: 3, Stdout: "  v1.2.3\n", Error: "boom"}
	tests := []struct {
		name string
		msg  analyzer.Message
		in   *analyzer.Input
		want string
	}{
		{"plain", analyzer.Message{Text: "File exists."}, in, "File exists."},
		{"placeholders", analyzer.Message{Text: "{{.a}} and {{ .b }}", Args: map[string]string{"a": "x", "b": "y"}}, in, "x and y"},
		{"classic args", analyzer.Message{Text: "code={{ .c }} out=[{{.o}}] trimmed=[{{.t}}] err={{.e}}",
			Args: map[string]string{"c": "{{repl .StatusCode }}", "o": "{{ repl .Result }}", "t": "{{repl Trim .Result}}", "e": "{{repl .Error }}"}},
			in, "code=3 out=[  v1.2.3\n] trimmed=[v1.2.3] err=boom"},
		{"classic inside an arg's text", analyzer.Message{Text: "{{ .v }}", Args: map[string]string{"v": "version {{repl Trim .Result }} found"}}, in, "version v1.2.3 found"},
		{"classic in the text", analyzer.Message{Text: "got {{repl Trim .Result }}"}, in, "got v1.2.3"},
		{"no input renders classic empty", analyzer.Message{Text: "[{{ .c }}]", Args: map[string]string{"c": "{{repl .StatusCode }}"}}, nil, "[]"},
		{"missing arg stays as written", analyzer.Message{Text: "{{ .nope }}!"}, in, "{{ .nope }}!"},
		{"templates are not executed", analyzer.Message{Text: `{{ .a }} {{ printf "%d" 1 }}`, Args: map[string]string{"a": `{{ index . "x" }}`}}, in, `{{ index . "x" }} {{ printf "%d" 1 }}`},
		{"arg values are not expanded again", analyzer.Message{Text: "{{ .a }}", Args: map[string]string{"a": "{{ .b }}", "b": "no"}}, in, "{{ .b }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.msg.Render(tt.in))
		})
	}
}

func TestMessageRenderCapped(t *testing.T) {
	in := &analyzer.Input{Stdout: strings.Repeat("é", 1<<20)}
	msg := analyzer.Message{Text: "out: {{ .o }} end", Args: map[string]string{"o": "{{repl .Result }}"}}
	got := msg.Render(in)
	assert.LessOrEqual(t, len(got), analyzer.MaxMessageBytes)
	assert.True(t, strings.HasPrefix(got, "out: éé"))
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.True(t, strings.ToValidUTF8(got, "?") == got, "cut at a rune boundary")

	long := analyzer.Message{Text: strings.Repeat("a", 10000)}
	assert.Len(t, long.Render(nil), analyzer.MaxMessageBytes)
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  analyzer.Message
		want []string
	}{
		{"plain", analyzer.Message{Text: "fine"}, nil},
		{"all supported", analyzer.Message{Text: "{{ .a }} {{.b}} {{repl .Error }}",
			Args: map[string]string{"a": "{{repl .StatusCode }}", "b": "x {{ repl Trim .Result }} y", "unused": "z"}}, nil},
		{"missing arg", analyzer.Message{Text: "{{ .a }} {{ .b }}", Args: map[string]string{"a": "1"}},
			[]string{`{{ .b }} has no value: args has no "b" (args has a)`}},
		{"missing arg, no args", analyzer.Message{Text: "{{ .b }}"},
			[]string{`{{ .b }} has no value: args has no "b" (args is empty)`}},
		{"unsupported in text", analyzer.Message{Text: "{{ if .x }}y{{ end }}"},
			[]string{
				"unsupported template {{ if .x }}: supported are " + analyzer.SupportedTemplates,
				"unsupported template {{ end }}: supported are " + analyzer.SupportedTemplates,
			}},
		{"unsupported in args", analyzer.Message{Text: "{{ .a }}", Args: map[string]string{"a": "{{repl .Stdout }}", "b": "{{ .a }}"}},
			[]string{
				"args.a: unsupported template {{repl .Stdout }}: an arg may use {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}",
				"args.b: unsupported template {{ .a }}: an arg may use {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}",
			}},
		{"not an identifier", analyzer.Message{Text: "{{ .1a }} {{ . a }} {{repl Trim Trim .Result }}"},
			[]string{
				"unsupported template {{ .1a }}: supported are " + analyzer.SupportedTemplates,
				"unsupported template {{ . a }}: supported are " + analyzer.SupportedTemplates,
				"unsupported template {{repl Trim Trim .Result }}: supported are " + analyzer.SupportedTemplates,
			}},
		{"white space and Trim of an error", analyzer.Message{Text: "{{repl\tTrim   .Error}}{{.a_1}}", Args: map[string]string{"a_1": "{{  repl .Result  }}"}}, nil},
		{"unclosed", analyzer.Message{Text: "{{ .a", Args: map[string]string{"x": "{{repl .Result"}},
			[]string{"{{ is not closed with }}", "args.x: {{ is not closed with }}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// A command that could not produce a result is handled only by a condition that says
// `error: true`: status codes, expressions and catch-alls are for answers, and a failure to
// run must never match a success written for one.
func TestAnalyzeErrorOnlyMatchesErrorConditions(t *testing.T) {
	failed := analyzer.Input{StatusCode: 1, Error: "pod refused: forbidden"}
	tests := []struct {
		name    string
		results []analyzer.Result
		want    analyzer.Status
		matched int
	}{
		{"status code written for an answer", []analyzer.Result{
			{Status: analyzer.StatusSuccess, Condition: cond(t, ptr(1), nil, "")}}, analyzer.StatusError, -1},
		{"catch-all without a condition", []analyzer.Result{
			{Status: analyzer.StatusSuccess}}, analyzer.StatusError, -1},
		{"expression", []analyzer.Result{
			{Status: analyzer.StatusSuccess, Condition: cond(t, nil, nil, `status_code == 1`)}}, analyzer.StatusError, -1},
		{"error: false", []analyzer.Result{
			{Status: analyzer.StatusSuccess, Condition: cond(t, nil, ptr(false), "")}}, analyzer.StatusError, -1},
		{"error: true handles it", []analyzer.Result{
			{Status: analyzer.StatusSuccess, Condition: cond(t, ptr(1), nil, "")},
			{Status: analyzer.StatusWarn, Condition: cond(t, nil, ptr(true), "")}}, analyzer.StatusWarn, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := analyzer.Analyze(context.Background(), "r", tt.results, nil, &failed)
			assert.Equal(t, tt.want, got.Status)
			assert.Equal(t, tt.matched, got.Matched)
		})
	}
}
