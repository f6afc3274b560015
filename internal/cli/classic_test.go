package cli

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A whole classic replicated.yml validates; what preflight does not use is said on stderr.
func TestValidatePrintsClassicNotes(t *testing.T) {
	inv := run(t, context.Background(), `replicated_api_version: 2.9.2
name: app
host_requirements: {memory: 8GB}
custom_requirements:
- id: bash
  command: {id: raw, data: {cmd: '["test", "-e", "/bin/bash"]', cluster: false}}
  results: [{status: success, condition: {status_code: "0"}}, {status: error}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
`, "validate", "-")
	require.Equal(t, ExitPass, inv.code, inv.stderr)
	assert.Contains(t, inv.stdout, "spec is valid: 1 requirement")
	assert.Contains(t, inv.stderr, "note: <stdin>:3:1: host_requirements: not used by preflight")
	assert.Contains(t, inv.stderr, "note: <stdin>:9:1: document 2 (apps/v1 Deployment) is not used by preflight")
}
