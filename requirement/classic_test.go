package requirement

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/schema"
)

// The loader's classic top-level fields are the schema's: both accept exactly these.
func TestClassicTopLevelMatchesTheSchema(t *testing.T) {
	var doc struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Deprecated bool `json:"deprecated"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(schema.JSON(), &doc))
	var inSchema []string
	for k, p := range doc.Defs["requirementsDocument"].Properties {
		if k != "custom_requirements" {
			assert.True(t, p.Deprecated, "%s is marked deprecated (accepted, not used)", k)
			inSchema = append(inSchema, k)
		}
	}
	var inLoader []string
	for k := range classicTopLevel {
		inLoader = append(inLoader, k)
	}
	assert.ElementsMatch(t, inLoader, inSchema)
}
