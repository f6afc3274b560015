package requirement_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

func ExampleLoad() {
	src := `# kind: replicated
custom_requirements:
- id: config-present
  message: The installer's config file exists
  when: phase == "upgrade"
  command:
    id: exec
    timeout: 5
    data:
      cmd: ["test", "-e", "/etc/myapp/config.yaml"]
  results:
  - status: success
    condition:
      status_code: 0
  - status: error
    message: /etc/myapp/config.yaml is missing.
`
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{},
		requirement.Source{Name: "preflight.yaml", Reader: strings.NewReader(src)})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := spec.Requirements[0]
	fmt.Println(spec.Summary())
	fmt.Println(r.ID, r.Command.ID, r.Command.Timeout, r.When.Source())
	// Output:
	// 1 requirement, 0 pod templates
	// config-present exec 5s phase == "upgrade"
}

func ExampleError() {
	src := `custom_requirements:
- id: port-80
  when: '{{repl ConfigOptionEquals "ingress" "nodeport" }}'
  command:
    id: exec
    timout: 10
    data: {cmd: [ss, -ltn]}
  results: []
`
	_, err := requirement.Load(context.Background(), requirement.LoadOptions{},
		requirement.Source{Name: "preflight.yaml", Reader: strings.NewReader(src)})
	fmt.Println(err)
	// Output:
	// preflight.yaml:3:9: custom_requirements[0].when: when holds a Go template, which is not evaluated; write CEL instead: vars.ingress == "nodeport"
	// preflight.yaml:6:5: custom_requirements[0].command.timout: unknown field "timout"; did you mean "timeout"?
	// preflight.yaml:8:12: custom_requirements[0].results: must list at least one result
}

// A requirement's results are compiled once, when the spec loads, and analysed for every
// output: the first matching result wins.
func ExampleRequirement_Analyze() {
	ready, err := analyzer.Compile(`status_code == 0 && output.phase == "Ready"`, analyzer.ScopeCondition)
	if err != nil {
		panic(err)
	}
	zero := 0
	req := &requirement.Requirement{ID: "operator-ready", Results: []requirement.Result{
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "The operator is ready."},
			Condition: &requirement.Condition{Expr: ready}},
		{Status: requirement.StatusWarn, Message: requirement.Message{Text: "The operator is not ready: {{ .state }}",
			Args: map[string]string{"state": "{{repl Trim .Result }}"}},
			Condition: &requirement.Condition{StatusCode: &zero}},
		{Status: requirement.StatusError, Message: requirement.Message{Text: "The check failed."}},
	}}
	c := &analyzer.Context{Phase: "upgrade", Budget: &analyzer.Budget{}}

	for _, in := range []*analyzer.Input{
		{StatusCode: 0, Stdout: `{"phase": "Ready"}`},
		{StatusCode: 0, Stdout: `{"phase": "Pending"}` + "\n"},
		{StatusCode: 1},
	} {
		o := req.Analyze(context.Background(), c, in)
		fmt.Printf("%s (result %d): %s\n", o.Status, o.Matched, o.Message)
	}
	// Output:
	// success (result 0): The operator is ready.
	// warn (result 1): The operator is not ready: {"phase": "Pending"}
	// error (result 2): The check failed.
}

// Message renders the classic message form: placeholders filled from args, whose classic
// templates read the command's output.
func ExampleMessage_Render() {
	m := requirement.Message{
		Text: "Port {{ .port }} is taken (exit code {{ .code }}).",
		Args: map[string]string{"port": "80", "code": "{{repl .StatusCode }}"},
	}
	fmt.Println(m.Render(&analyzer.Input{StatusCode: 98}))
	// Output:
	// Port 80 is taken (exit code 98).
}
