package requirement

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/internal/celenv"
)

// TestCompileStopsAtTheLimits checks the loader's second guard: an expression that the count
// before decoding did not see (a field added to the spec without counting it) is not compiled
// past the limits either.
func TestCompileStopsAtTheLimits(t *testing.T) {
	l := newLoader(context.Background(), LoadOptions{Limits: Limits{MaxExpressions: 2, MaxExpressionBytes: 40}})
	for _, src := range []string{"status_code == 0", "status_code == 1", "status_code == 0"} {
		_, err := l.compile(src, analyzer.ScopeCondition, nil)
		require.NoError(t, err, src)
	}
	_, err := l.compile("status_code == 2", analyzer.ScopeCondition, nil)
	assert.ErrorContains(t, err, "not compiled: the spec's distinct CEL expressions are past the limits (Limits.MaxExpressions 2, Limits.MaxExpressionBytes 40)")
	// One too long for the compiler counts nothing: the compiler's own error says why.
	l = newLoader(context.Background(), LoadOptions{Limits: Limits{MaxExpressions: 1}})
	_, err = l.compile(strings.Repeat("1", celenv.MaxExpressionBytes+1), analyzer.ScopeCondition, nil)
	assert.ErrorContains(t, err, "more than the limit of 10240 bytes")
	_, err = l.compile("true", analyzer.ScopeCondition, nil)
	assert.NoError(t, err)

	l = newLoader(context.Background(), LoadOptions{Limits: Limits{MaxExpressionBytes: 20}})
	_, err = l.compile("status_code == 0", analyzer.ScopeCondition, nil)
	require.NoError(t, err)
	_, err = l.compile("true", analyzer.ScopeCondition, nil)
	require.NoError(t, err, "20 bytes together")
	_, err = l.compile("false", analyzer.ScopeCondition, nil)
	assert.ErrorContains(t, err, "Limits.MaxExpressionBytes 20")
}
