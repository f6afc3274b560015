package readctx

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadAll(t *testing.T) {
	data, err := ReadAll(context.Background(), strings.NewReader("hello"), 10)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(data))

	data, err = ReadAll(context.Background(), strings.NewReader("0123456789abc"), 4)
	require.NoError(t, err)
	assert.Equal(t, "01234", string(data), "limit+1 bytes tell that the input is over the limit")
}

// A read that never ends gives way to the context: a pipe nobody closes, and a FIFO nobody
// opens for writing (os.Open itself blocks there).
func TestReadAllCancelled(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	fifo := filepath.Join(t.TempDir(), "spec.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for name, r := range map[string]io.Reader{"pipe": pr, "fifo without writer": File(fifo)} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := ReadAll(ctx, r, 1<<20)
				done <- err
			}()
			cancel()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, context.Canceled)
			case <-time.After(10 * time.Second):
				t.Fatal("ReadAll did not return after cancel")
			}
		})
	}
}

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	require.NoError(t, os.WriteFile(p, []byte("content"), 0o600))
	f := File(p)
	data, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "content", string(data))
	require.NoError(t, f.Close())
	_, err = f.Read(make([]byte, 1))
	assert.ErrorIs(t, err, os.ErrClosed)

	_, err = io.ReadAll(File(filepath.Join(t.TempDir(), "missing")))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
