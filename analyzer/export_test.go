package analyzer

import "time"

// SetMaxEvalDuration shortens MaxEvalDuration for a test; call the result to restore it.
func SetMaxEvalDuration(d time.Duration) (restore func()) {
	old := maxEvalDuration
	maxEvalDuration = d
	return func() { maxEvalDuration = old }
}
