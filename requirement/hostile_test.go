package requirement_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
)

// TestOutOfRangeIntegers checks that integers too large for their field are load errors, not
// silently the default: YAML reads 99999999999999999999 as a float, which the schema takes
// for a whole number.
func TestOutOfRangeIntegers(t *testing.T) {
	tests := []struct {
		name, src, path, msg string
	}{
		{"timeout beyond int64", strings.Replace(minimal, "{id: exec,", "{id: exec, timeout: 99999999999999999999,", 1),
			"custom_requirements[0].command.timeout", "is out of range: the longest timeout is 9223372036 seconds"},
		{"timeout beyond a duration", strings.Replace(minimal, "{id: exec,", "{id: exec, timeout: 9223372037,", 1),
			"custom_requirements[0].command.timeout", "is out of range"},
		{"timeout as an exponent", strings.Replace(minimal, "{id: exec,", "{id: exec, timeout: 1e30,", 1),
			"custom_requirements[0].command.timeout", "is out of range"},
		{"failure_limit beyond int64", minimal + "  retry: {interval: 1s, timeout: 1m, failure_limit: 99999999999999999999}\n",
			"custom_requirements[0].retry.failure_limit", "is out of range: the largest failure_limit is 2147483647"},
		{"status_code beyond int64", strings.Replace(minimal, "{status: success}", "{status: success, condition: {status_code: 99999999999999999999}}", 1),
			"custom_requirements[0].results[0].condition.status_code", "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := loadString(t, requirement.LoadOptions{}, tc.src)
			require.Nil(t, spec, "must not load with a default in place of the number")
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", err)
			require.Equal(t, tc.path, ps[0].Location.Path)
			require.Contains(t, ps[0].Message, tc.msg)
		})
	}
	// The largest timeout that fits still loads.
	spec, err := loadString(t, requirement.LoadOptions{}, strings.Replace(minimal, "{id: exec,", "{id: exec, timeout: 9223372036,", 1))
	require.NoError(t, err)
	require.Equal(t, 9223372036*time.Second, spec.Requirements[0].Command.Timeout)
}

// TestLoadReaderCancelled cancels the context while the reader never ends (a stdin or pipe
// whose writer never closes it): the load returns with the context's error.
func TestLoadReaderCancelled(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "<stdin>", Reader: pr})
		done <- err
	}()
	_, err := pw.Write([]byte("custom_requirements:\n"))
	require.NoError(t, err)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("LoadReader did not return after its context was cancelled")
	}
}

// TestLoadFilesFIFOCancelled loads a FIFO that a writer holds open and never closes: the load
// returns once its context is cancelled.
func TestLoadFilesFIFOCancelled(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	fifo := filepath.Join(t.TempDir(), "spec.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// Hold the write end open (O_RDWR does not wait for a reader).
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.WriteString("custom_requirements:\n")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := requirement.LoadFiles(ctx, requirement.LoadOptions{}, fifo)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("LoadFiles did not return after its context was cancelled")
	}
}
