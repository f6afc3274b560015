package command

import (
	"io"
	"strings"
	"sync"
)

// cappedBuffer is an io.Writer that keeps the first limit bytes written to it and discards
// the rest, remembering that it did. It never returns an error and always reports the whole
// write as done, so that a process writing into it is never blocked or killed by SIGPIPE
// because of the cap. The zero value keeps nothing; set limit before use. Not safe for
// concurrent use.
type cappedBuffer struct {
	b         strings.Builder
	limit     int
	truncated bool
}

// newCappedBuffer returns a buffer that keeps at most limit bytes.
func newCappedBuffer(limit int) *cappedBuffer { return &cappedBuffer{limit: limit} }

// Write keeps what fits under the limit and drops the rest.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.limit - c.b.Len()
	if room <= 0 {
		if len(p) > 0 {
			c.truncated = true
		}
		return len(p), nil
	}
	if len(p) > room {
		c.b.Write(p[:room])
		c.truncated = true
		return len(p), nil
	}
	c.b.Write(p)
	return len(p), nil
}

// String returns the bytes kept, without copying them.
func (c *cappedBuffer) String() string { return c.b.String() }

// Truncated reports whether bytes were dropped.
func (c *cappedBuffer) Truncated() bool { return c.truncated }

// copyBufPool holds the scratch buffers readCapped and the process output readers copy
// through, so that a run does not allocate one per stream.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyCapped copies r into w (usually a cappedBuffer) until EOF or an error, through a pooled
// scratch buffer. It returns the read error, nil at EOF.
func copyCapped(w io.Writer, r io.Reader) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readCapped reads r until EOF, keeping at most limit bytes; it stops reading (without
// draining r) as soon as one byte past the limit has been seen, and reports truncated.
// Use it for streams that may be endless, such as an HTTP body or pod logs.
func readCapped(r io.Reader, limit int) (s string, truncated bool, err error) {
	c := newCappedBuffer(limit)
	err = copyCapped(c, io.LimitReader(r, int64(limit)+1))
	return c.String(), c.Truncated(), err
}
