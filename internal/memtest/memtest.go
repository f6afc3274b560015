// Package memtest measures the peak memory of a piece of work, for tests that bound it: the
// test binary runs itself again with one test selected, in a child process whose peak
// resident set size (getrusage's maxrss, the kernel's high-water mark) the parent reads when
// the child exits. A child process starts from a clean heap, so that what the parent
// allocated before does not count, and it measures RSS, what the machine pays, rather than
// the Go heap alone.
package memtest

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// childEnv names, in the child's environment, the test the child is to run.
const childEnv = "PREFLIGHT_MEMTEST_CHILD"

// Child reports whether this process is the child that PeakRSS started to run t.
func Child(t testing.TB) bool { return os.Getenv(childEnv) == t.Name() }

// PeakRSS runs the test name (a top-level test of the current test binary, which checks
// Child and does the work to measure) in a child process with env added to its environment,
// and returns the child's peak RSS in bytes and its output. The test fails when the child
// fails.
//
// Under the race detector PeakRSS skips t: what it would measure is mostly the detector's.
// test.sh runs the memory tests again without it.
func PeakRSS(t testing.TB, name string, env ...string) (int64, string) {
	t.Helper()
	if raceEnabled {
		t.Skip("peak RSS under the race detector measures the detector; test.sh runs this test without -race")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s in a child process: %v\n%s", name, err, out.String())
	}
	if !strings.Contains(out.String(), "--- PASS: "+name) {
		t.Fatalf("the child did not run %s:\n%s", name, out.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no resource usage of child processes on this system")
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss, out.String() // bytes on macOS
	}
	return ru.Maxrss * 1024, out.String() // KiB on Linux and the BSDs
}
