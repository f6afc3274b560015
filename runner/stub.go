package runner

// Placeholders until the implementation lands (owner: runner). Delete this file.

import (
	"context"
	"errors"

	"github.com/preflightkit/preflight/requirement"
)

func newRunner(opts Options) (*Runner, error) { return &Runner{opts: opts}, nil }

func (r *Runner) run(ctx context.Context, spec *requirement.Spec) (*Decision, error) {
	return nil, errors.New("not implemented")
}

// Evaluate analyses recorded command outputs (the `-o json` form of an earlier decision)
// against spec without running any command.
func (r *Runner) Evaluate(ctx context.Context, spec *requirement.Spec, recorded *Decision) (*Decision, error) {
	return nil, errors.New("not implemented")
}
