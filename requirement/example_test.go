package requirement_test

import (
	"context"
	"fmt"

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
		requirement.Source{Name: "preflight.yaml", Data: []byte(src)})
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
		requirement.Source{Name: "preflight.yaml", Data: []byte(src)})
	fmt.Println(err)
	// Output:
	// preflight.yaml:3:9: custom_requirements[0].when: when holds a Go template, which is not evaluated; write CEL instead: vars.ingress == "nodeport"
	// preflight.yaml:6:5: custom_requirements[0].command.timout: unknown field "timout"; did you mean "timeout"?
	// preflight.yaml:8:12: custom_requirements[0].results: must list at least one result
}
