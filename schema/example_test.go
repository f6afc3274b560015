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
