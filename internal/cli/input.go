package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// errInputInterrupted is returned by readInput when ctx ends the read.
var errInputInterrupted = errors.New("interrupted")

// readInput reads the file name, or stdin when name is "-", up to limit+1 bytes, so that an
// oversized input is detected without reading it whole. It returns as soon as ctx is done,
// even when the input never ends (a terminal, a pipe or FIFO whose writer never closes it):
// SIGINT and SIGTERM cancel ctx and must end the process, not wait for an EOF. A file being
// read is then closed; a read of stdin is left to end with the process.
func readInput(ctx context.Context, stdin io.Reader, name string, limit int64) ([]byte, error) {
	var (
		mu       sync.Mutex
		open     *os.File
		canceled bool
	)
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			mu.Lock()
			if canceled {
				mu.Unlock()
				ch <- result{nil, errInputInterrupted}
				return
			}
			open = f
			mu.Unlock()
			r = f
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		ch <- result{data, err}
	}()
	select {
	case res := <-ch:
		return res.data, res.err
	case <-ctx.Done():
		mu.Lock()
		canceled = true
		if open != nil {
			open.Close()
		}
		mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errInputInterrupted, ctx.Err())
	}
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
