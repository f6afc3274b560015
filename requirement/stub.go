package requirement

// Placeholders until the implementation lands (owner: loader). Delete this file.

import (
	"context"
	"errors"
	"io"
)

func load(ctx context.Context, opts LoadOptions, sources []Source) (*Spec, error) {
	return nil, errors.New("not implemented")
}

func loadFiles(ctx context.Context, opts LoadOptions, paths []string) (*Spec, error) {
	return nil, errors.New("not implemented")
}

func loadReader(ctx context.Context, opts LoadOptions, name string, r io.Reader) (*Spec, error) {
	return nil, errors.New("not implemented")
}

func (e *Error) Error() string { return "not implemented" }
