package schema_test

import (
	"encoding/json"
	"fmt"

	"github.com/preflightkit/preflight/schema"
)

func ExampleJSON() {
	var s struct {
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(schema.JSON(), &s); err != nil {
		panic(err)
	}
	fmt.Println(s.Schema)
	// Output:
	// https://json-schema.org/draft/2020-12/schema
}

// A program that registers commands of its own prints a schema that lists them, so that an
// editor accepts their ids (their data is any object).
func ExampleWithCommands() {
	b, err := schema.WithCommands("vendor_license")
	if err != nil {
		panic(err)
	}
	var s struct {
		Defs struct {
			Command struct {
				Properties struct {
					ID struct {
						Enum []string `json:"enum"`
					} `json:"id"`
				} `json:"properties"`
			} `json:"command"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		panic(err)
	}
	ids := s.Defs.Command.Properties.ID.Enum
	fmt.Println(ids[len(ids)-1])
	// Output:
	// vendor_license
}
