package analyzer_test

import (
	"context"
	"fmt"

	"github.com/preflightkit/preflight/analyzer"
)

// A requirement's results are compiled once, when the spec loads, and analysed for every
// output: the first matching result wins.
func ExampleAnalyze() {
	ready, err := analyzer.Compile(`status_code == 0 && output.phase == "Ready"`, analyzer.ScopeCondition)
	if err != nil {
		panic(err)
	}
	zero := 0
	results := []analyzer.Result{
		{Status: analyzer.StatusSuccess, Message: analyzer.Message{Text: "The operator is ready."},
			Condition: &analyzer.Condition{Expr: ready}},
		{Status: analyzer.StatusWarn, Message: analyzer.Message{Text: "The operator is not ready: {{ .state }}",
			Args: map[string]string{"state": "{{repl Trim .Result }}"}},
			Condition: &analyzer.Condition{StatusCode: &zero}},
		{Status: analyzer.StatusError, Message: analyzer.Message{Text: "The check failed."}},
	}
	c := &analyzer.Context{Phase: "upgrade", Budget: &analyzer.Budget{}}

	for _, in := range []*analyzer.Input{
		{StatusCode: 0, Stdout: `{"phase": "Ready"}`},
		{StatusCode: 0, Stdout: `{"phase": "Pending"}` + "\n"},
		{StatusCode: 1},
	} {
		o := analyzer.Analyze(context.Background(), "operator-ready", results, c, in)
		fmt.Printf("%s (result %d): %s\n", o.Status, o.Matched, o.Message)
	}
	// Output:
	// success (result 0): The operator is ready.
	// warn (result 1): The operator is not ready: {"phase": "Pending"}
	// error (result 2): The check failed.
}

// Compile errors carry the position of each problem and a caret snippet.
func ExampleCompile_error() {
	_, err := analyzer.Compile(`status_code == "0"`, analyzer.ScopeCondition)
	fmt.Println(err)
	// Output:
	// 1:13: found no matching overload for '_==_' applied to '(int, string)'
	//  | status_code == "0"
	//  | ............^
}

// A `when` sees the caller's variables, the app's versions and the phase; the Kubernetes CEL
// libraries (semver, quantity, ...) are available.
func ExampleExpression_Eval() {
	when, err := analyzer.Compile(`phase == "upgrade" && semver(app.previous_version).isLessThan(semver("2.0.0"))`, analyzer.ScopeWhen)
	if err != nil {
		panic(err)
	}
	c := &analyzer.Context{Phase: "upgrade", App: analyzer.App{Version: "2.1.0", PreviousVersion: "1.8.4"}}
	applies, err := when.Eval(context.Background(), c, nil)
	fmt.Println(applies, err)
	// Output:
	// true <nil>
}

// Message renders the classic message form: placeholders filled from args, whose classic
// templates read the command's output.
func ExampleMessage_Render() {
	m := analyzer.Message{
		Text: "Port {{ .port }} is taken (exit code {{ .code }}).",
		Args: map[string]string{"port": "80", "code": "{{repl .StatusCode }}"},
	}
	fmt.Println(m.Render(&analyzer.Input{StatusCode: 98}))
	// Output:
	// Port 80 is taken (exit code 98).
}
