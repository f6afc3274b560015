package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/preflightkit/preflight/internal/readctx"
)

// errInputInterrupted is returned by readInput when ctx ends the read.
var errInputInterrupted = errors.New("interrupted")

// readInput reads the file name, or stdin when name is "-", up to limit+1 bytes, so that an
// oversized input is detected without reading it whole. It returns as soon as ctx is done,
// even when the input never ends (a terminal, a pipe or FIFO whose writer never closes it):
// SIGINT and SIGTERM cancel ctx and must end the process, not wait for an EOF.
func readInput(ctx context.Context, stdin io.Reader, name string, limit int64) ([]byte, error) {
	r := stdin
	if name != "-" {
		f := readctx.File(name)
		defer f.Close()
		r = f
	}
	data, err := readctx.ReadAll(ctx, r, limit)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", errInputInterrupted, ctx.Err())
	}
	return data, err
}

// inputName is how errors name an input: "stdin" for "-".
func inputName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// interrupted returns the error for an input that ctx ended while it was being read: the
// interrupted exit code (1), as for an interrupted run.
func interrupted(what, name string) error {
	return withCode(ExitError, fmt.Errorf("interrupted while reading %s from %s", what, inputName(name)))
}
