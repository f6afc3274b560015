package analyzer

// Placeholders until the implementation lands (owner: CEL/analyzer). Delete this file.

import (
	"context"
	"errors"
)

type exprImpl struct{}

func (exprImpl) usesCluster() bool { return false }

// Budget is a run-wide CEL cost budget shared by all expressions of one run.
type Budget struct{}

func compile(src string, scope Scope) (*Expression, error) {
	return nil, errors.New("not implemented")
}

func (e *Expression) eval(ctx context.Context, c *Context, in *Input) (bool, error) {
	return false, errors.New("not implemented")
}

func analyze(ctx context.Context, id string, results []Result, c *Context, in *Input) Outcome {
	return Outcome{Status: StatusError, Matched: -1, Err: errors.New("not implemented")}
}
