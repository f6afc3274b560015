package command

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiskSpacePrepareErrors(t *testing.T) {
	tests := []prepareErrorCase{
		{"missing", `{}`, `data.dir: required: give the directory to measure, such as "/var/lib"`},
		{"empty", `{"dir": ""}`, `data.dir: required: give the directory to measure, such as "/var/lib"`},
		{"NUL", `{"dir": "/a\u0000"}`, `data.dir: must not contain a NUL byte`},
		{"not a string", `{"dir": ["/"]}`, `data.dir: must be a string, not array`},
		{"unknown field", `{"dir": "/", "path": "/"}`, `data.path: unknown field (known fields: cluster, conflicts, dir, tags; names are case-sensitive)`},
	}
	for _, id := range []string{"disk_space_available", "disk_space_total"} {
		t.Run(id, func(t *testing.T) { checkPrepareErrors(t, id, tests) })
	}
}

// df returns what df(1) reports for dir: bytes available and total size.
func df(t *testing.T, dir string) (avail, size uint64) {
	t.Helper()
	if _, err := exec.LookPath("df"); err != nil {
		t.Skip("df not installed")
	}
	out, err := exec.Command("df", "-B1", "--output=avail,size", dir).Output()
	if err != nil {
		t.Skipf("df does not support --output: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2, "df output %q", out)
	f := strings.Fields(lines[1])
	require.Len(t, f, 2)
	avail, err = strconv.ParseUint(f[0], 10, 64)
	require.NoError(t, err)
	size, err = strconv.ParseUint(f[1], 10, 64)
	require.NoError(t, err)
	return avail, size
}

func TestDiskSpace(t *testing.T) {
	dir := t.TempDir()
	dfAvail, dfSize := df(t, dir)
	measure := func(t *testing.T, id, d string) (uint64, Output) {
		t.Helper()
		got := runOnce(t, mustPrepare(t, id, `{"dir": "`+d+`"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 0, got.StatusCode)
		n, err := strconv.ParseUint(got.Stdout, 10, 64)
		require.NoError(t, err, "stdout %q must be a number of bytes", got.Stdout)
		return n, got
	}

	avail, got := measure(t, "disk_space_available", dir)
	assert.Empty(t, got.Stderr)
	assert.Positive(t, avail)
	// Other processes write meanwhile: allow 256 MiB of drift against df.
	assert.InDelta(t, float64(dfAvail), float64(avail), 256<<20, "df says %d available", dfAvail)

	total, _ := measure(t, "disk_space_total", dir)
	assert.Equal(t, dfSize, total)
	assert.GreaterOrEqual(t, total, avail)

	t.Run("missing dir is measured at its nearest existing parent", func(t *testing.T) {
		missing := filepath.Join(dir, "not", "yet")
		n, got := measure(t, "disk_space_total", missing)
		assert.Equal(t, total, n)
		assert.Equal(t, missing+" does not exist; measured "+dir+", the filesystem it would be created on", got.Stderr)
	})
	t.Run("relative dir", func(t *testing.T) {
		n, _ := measure(t, "disk_space_total", ".")
		assert.Positive(t, n)
	})
	t.Run("a file in the way is an error", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "disk_space_available", `{"dir": "/proc/self/status/x"}`), 10*time.Second, nil)
		require.Error(t, got.Err)
		assert.Equal(t, CodeGeneralError, got.StatusCode)
		assert.Contains(t, got.Err.Error(), "data.dir: statfs /proc/self/status/x: not a directory")
		assert.Empty(t, got.Stdout)
	})
}
