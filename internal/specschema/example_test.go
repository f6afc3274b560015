package specschema_test

import (
	"fmt"

	"github.com/preflightkit/preflight/internal/specschema"
)

func ExampleValidateRequirements() {
	// A decoded requirements document with a typo and a missing field.
	doc := map[string]any{
		"custom_requirements": []any{
			map[string]any{
				"id":      "port-80",
				"command": map[string]any{"id": "port_available", "timout": 10, "data": map[string]any{"port": 80}},
			},
		},
	}
	violations, err := specschema.ValidateRequirements(doc)
	if err != nil {
		panic(err)
	}
	for _, v := range violations {
		fmt.Printf("%s: %s\n", v.Pointer, v.Message)
	}
	// Output:
	// /custom_requirements/0/command/timout: unknown field "timout"; did you mean "timeout"?
	// /custom_requirements/0/results: missing required field "results"
}
