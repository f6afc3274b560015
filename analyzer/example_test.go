package analyzer_test

import (
	"context"
	"fmt"

	"github.com/preflightkit/preflight/analyzer"
)

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
