package specschema

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoKeywordThatDiffersBetweenDrafts holds the schema to keywords that mean the same in
// draft 2019-09, as the loader compiles it, and in 2020-12, as it is declared for editors.
func TestNoKeywordThatDiffersBetweenDrafts(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal(specJSON, &doc))
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "prefixItems", "additionalItems", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "unevaluatedItems":
					t.Errorf("%s/%s: the keyword means something else in draft 2019-09", at, k)
				case "items":
					_, isList := e.([]any)
					assert.False(t, isList, "%s/items: a list of schemas is 2019-09's prefixItems", at)
				}
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	_, err := asDraft2019([]byte(`{"$schema": "x"}`))
	assert.Error(t, err, "a schema that does not declare 2020-12 is refused")
}
