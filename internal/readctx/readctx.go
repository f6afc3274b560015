// Package readctx reads inputs that may never end (a terminal, a pipe or FIFO whose writer
// never closes it) so that a cancelled context ends the read: SIGINT and SIGTERM must stop a
// process, not wait for an EOF. The spec loader and the CLI read their inputs with it.
package readctx

import (
	"context"
	"io"
	"os"
	"sync"
)

// ReadAll reads r to its end, but no more than limit+1 bytes (so that an input over the limit
// is detected without reading it whole), in a goroutine of its own. When ctx ends first it
// returns ctx's error at once and, when r is an io.Closer, closes it, which ends a read
// blocked on a file or pipe; the goroutine of a read nothing can end (stdin) is left to end
// with the process.
func ReadAll(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	if ctx.Done() == nil {
		return io.ReadAll(io.LimitReader(r, limit+1))
	}
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		ch <- result{data, err}
	}()
	select {
	case res := <-ch:
		return res.data, res.err
	case <-ctx.Done():
		if c, ok := r.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, ctx.Err()
	}
}

// File returns a reader of the file at path that opens it on its first Read, that is in the
// goroutine ReadAll reads in: opening a FIFO blocks until a writer opens it too. Close closes
// the file, or makes a later open close it at once.
func File(path string) io.ReadCloser { return &file{path: path} }

type file struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	closed bool
}

func (l *file) Read(p []byte) (int, error) {
	l.mu.Lock()
	f, closed := l.f, l.closed
	l.mu.Unlock()
	if closed {
		return 0, os.ErrClosed
	}
	if f == nil {
		opened, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			opened.Close()
			return 0, os.ErrClosed
		}
		l.f, f = opened, opened
		l.mu.Unlock()
	}
	return f.Read(p)
}

// Close closes the file if it was opened.
func (l *file) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}
