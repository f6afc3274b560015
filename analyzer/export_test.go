package analyzer

import "time"

// SetMaxEvalDuration shortens the evaluation time limit for a test; call the result to
// restore it.
func SetMaxEvalDuration(d time.Duration) (restore func()) {
	old := maxEvalDuration
	maxEvalDuration = d
	return func() { maxEvalDuration = old }
}

// Limits the external tests check against.
const (
	MaxExpressionBytes = maxExpressionBytes
	StaticCostLimit    = staticCostLimit
	DefaultRunBudget   = defaultRunBudget
	PerCallCostLimit   = perCallCostLimit
)
