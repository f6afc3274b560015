package cli

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/preflightkit/preflight/command"
)

// TestCLIWords: what the library says of its Go fields reaches the CLI's users as flags, or
// as a plain limit where no flag sets it.
func TestCLIWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{fmt.Sprintf("the kubernetes command needs a cluster, but %v", command.ErrNoCluster),
			"the kubernetes command needs a cluster, but no cluster configuration was given: pass --kubeconfig or set KUBECONFIG"},
		{"raise the output limit (runner.Options.OutputLimit; preflight run --output-limit) or say",
			"raise the output limit (--output-limit) or say"},
		{"output trimmed: the run's output budget of 10 bytes (Options.OutputBudget) was used up",
			"output trimmed: the run's output budget of 10 bytes was used up"},
		{"the spec is larger than 4194304 bytes (the limit, Limits.MaxBytes)",
			"the spec is larger than 4194304 bytes (the limit)"},
		{"count 9 bytes together, more than 8 (the limit, Limits.MaxExpressionBytes; an expression longer",
			"count 9 bytes together, more than 8 (the limit; an expression longer"},
		{"YAML aliases (*x) are not allowed (Limits.MaxAliases is 0); write the value out",
			"YAML aliases (*x) are not allowed; write the value out"},
		{"the document expands more than 5 YAML aliases (the limit, Limits.MaxAliases)",
			"the document expands more than 5 YAML aliases (the limit)"},
		{"unchanged: Limits are fine", "unchanged: Limits are fine"},
	} {
		assert.Equal(t, tc.want, cliWords(tc.in))
	}
}
