package command

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExecPrepareErrors(t *testing.T) {
	tests := []prepareErrorCase{
		{"no data", ``, `data.cmd: required: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or a script in data.shell`},
		{"null cmd", `{"cmd": null}`, `data.cmd: required: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or a script in data.shell`},
		{"empty argv", `{"cmd": []}`, `data.cmd: must not be empty`},
		{"empty program", `{"cmd": ["", "x"]}`, `data.cmd[0]: the program must not be empty`},
		{"NUL in argument", `{"cmd": ["echo", "a\u0000b"]}`, `data.cmd[1]: must not contain a NUL byte`},
		{"plain string", `{"cmd": "test -e /etc/x"}`, `data.cmd: "test -e /etc/x" is not a JSON array: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or put a script in data.shell`},
		{"legacy string of numbers", `{"cmd": "[1, 2]"}`, `data.cmd: the string form must hold a JSON array of strings such as '["test", "-e", "/etc/x"]': json: cannot unmarshal number into Go value of type string`},
		{"legacy empty", `{"cmd": "[]"}`, `data.cmd: must not be empty`},
		{"cmd object", `{"cmd": {"a": 1}}`, `data.cmd: must be an array of strings, not {"a": 1}`},
		{"cmd array of numbers", `{"cmd": [1]}`, `data.cmd: must be an array of strings`},
		{"both cmd and shell", `{"cmd": ["true"], "shell": "true"}`, `data: give exactly one of cmd (an argv array) and shell (a script), not both`},
		{"empty shell", `{"shell": "  "}`, `data.shell: must not be empty`},
		{"shell not a string", `{"shell": ["true"]}`, `data.shell: must be a string, not array`},
		{"unknown field", `{"cmd": ["true"], "Env": {}}`, `data.Env: unknown field (known fields: cmd, dir, env, inherit_env, shell; names are case-sensitive)`},
		{"two unknown fields", `{"cmd": ["true"], "timeout": 1, "args": []}`, "data.timeout: unknown field (known fields: cmd, dir, env, inherit_env, shell; names are case-sensitive)\n" +
			"data.args: unknown field (known fields: cmd, dir, env, inherit_env, shell; names are case-sensitive)"},
		{"duplicate field", `{"cmd": ["true"], "cmd": ["false"]}`, `data.cmd: duplicate field: give it once`},
		{"env name with =", `{"cmd": ["true"], "env": {"A=B": "x"}}`, `data.env[A=B]: variable names must not contain "=" or a NUL byte`},
		{"empty env name", `{"cmd": ["true"], "env": {"": "x"}}`, `data.env: variable names must not be empty`},
		{"env value NUL", `{"cmd": ["true"], "env": {"A": "x\u0000"}}`, `data.env[A]: value must not contain a NUL byte`},
		{"env value number", `{"cmd": ["true"], "env": {"A": 1}}`, `data.env[A]: must be a string, not number`},
		{"env not a map", `{"cmd": ["true"], "env": ["A=1"]}`, `data.env: must be a map of strings, not array`},
		{"inherit_env string", `{"cmd": ["true"], "inherit_env": "yes"}`, `data.inherit_env: must be a boolean (true or false), not string`},
		{"dir NUL", `{"cmd": ["true"], "dir": "/tmp\u0000"}`, `data.dir: must not contain a NUL byte`},
		{"not an object", `"true"`, `data: must be an object, not string`},
		{"broken JSON", `{"cmd": [}`, `data: invalid JSON at byte 10: invalid character '}' looking for beginning of value`},
		{"several problems at once", `{"shell": "", "dir": "a\u0000"}`, "data.shell: must not be empty\ndata.dir: must not contain a NUL byte"},
	}
	checkPrepareErrors(t, "exec", tests)
}

func TestExecRun(t *testing.T) {
	t.Setenv("PREFLIGHT_TEST_INHERITED", "from-installer")
	dir := t.TempDir()
	toolDir := t.TempDir()
	writeScript(t, filepath.Join(toolDir, "mytool"), "#!/bin/sh\necho mytool ran\n")
	require.NoError(t, os.WriteFile(filepath.Join(toolDir, "notexec"), []byte("#!/bin/sh\n"), 0o644))

	tests := []struct {
		name string
		data string
		want Output // Duration ignored
		// errContains, when set, is expected in Err.
		errContains string
	}{
		{name: "true", data: `{"cmd": ["true"]}`, want: Output{StatusCode: 0}},
		{name: "false", data: `{"cmd": ["false"]}`, want: Output{StatusCode: 1}},
		{name: "exit code", data: `{"cmd": ["sh", "-c", "exit 3"]}`, want: Output{StatusCode: 3}},
		{name: "stdout and stderr", data: `{"cmd": ["sh", "-c", "echo out; echo err >&2"]}`, want: Output{Stdout: "out\n", Stderr: "err\n"}},
		{name: "killed by a signal", data: `{"shell": "kill -9 $$"}`, want: Output{StatusCode: 137}},
		{name: "shell", data: `{"shell": "echo abc | tr a-c x-z; exit 5"}`, want: Output{StatusCode: 5, Stdout: "xyz\n"}},
		{name: "legacy string form", data: `{"cmd": "[\"sh\", \"-c\", \"echo legacy; exit 4\"]"}`, want: Output{StatusCode: 4, Stdout: "legacy\n"}},
		{name: "env added", data: `{"shell": "echo $FOO $PREFLIGHT_TEST_INHERITED", "env": {"FOO": "bar"}}`, want: Output{Stdout: "bar from-installer\n"}},
		{name: "env overrides the inherited value", data: `{"shell": "echo $PREFLIGHT_TEST_INHERITED", "env": {"PREFLIGHT_TEST_INHERITED": "mine"}}`, want: Output{Stdout: "mine\n"}},
		{name: "inherit_env false keeps only PATH", data: `{"shell": "echo \"[$PREFLIGHT_TEST_INHERITED][$FOO]\"; test -n \"$PATH\"", "env": {"FOO": "bar"}, "inherit_env": false}`, want: Output{Stdout: "[][bar]\n"}},
		{name: "PATH from env finds the program", data: `{"cmd": ["mytool"], "env": {"PATH": "` + toolDir + `"}}`, want: Output{Stdout: "mytool ran\n"}},
		{name: "dir", data: `{"cmd": ["pwd"], "dir": "` + dir + `"}`, want: Output{Stdout: dir + "\n"}},
		{name: "PWD follows dir with env", data: `{"cmd": ["printenv", "PWD"], "dir": "` + dir + `", "env": {"A": "1"}}`, want: Output{Stdout: dir + "\n"}},
		{name: "PWD follows dir without inherit_env", data: `{"cmd": ["printenv", "PWD"], "dir": "` + dir + `", "inherit_env": false}`, want: Output{Stdout: dir + "\n"}},
		{name: "missing dir", data: `{"cmd": ["pwd"], "dir": "` + dir + `/nope"}`, want: Output{StatusCode: 126}, errContains: "data.dir: stat " + dir + "/nope: no such file or directory"},
		{name: "dir is a file", data: `{"cmd": ["pwd"], "dir": "` + toolDir + `/notexec"}`, want: Output{StatusCode: 126}, errContains: "data.dir: " + toolDir + "/notexec is not a directory"},
		{name: "program not found", data: `{"cmd": ["preflight-no-such-program"]}`, want: Output{StatusCode: 127}, errContains: `exec: "preflight-no-such-program": executable file not found in $PATH`},
		{name: "program not found in PATH from env", data: `{"cmd": ["true"], "env": {"PATH": "` + toolDir + `"}}`, want: Output{StatusCode: 127}, errContains: `exec: "true": executable file not found in $PATH`},
		{name: "absolute path not found", data: `{"cmd": ["/nonexistent/prog"]}`, want: Output{StatusCode: 127}, errContains: "no such file or directory"},
		{name: "not executable", data: `{"cmd": ["` + toolDir + `/notexec"]}`, want: Output{StatusCode: 126}, errContains: "permission denied"},
		{name: "a directory", data: `{"cmd": ["` + toolDir + `"]}`, want: Output{StatusCode: 126}, errContains: toolDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runOnce(t, mustPrepare(t, "exec", tt.data), 30*time.Second, nil)
			if tt.errContains != "" {
				require.Error(t, got.Err)
				assert.Contains(t, got.Err.Error(), tt.errContains)
			} else {
				require.NoError(t, got.Err)
			}
			assert.Positive(t, got.Duration)
			got.Err, got.Duration = nil, 0
			assert.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

func TestExecOutputCap(t *testing.T) {
	t.Parallel()
	// 1 MiB on each stream against a 10-byte cap: the process must not block or die of
	// SIGPIPE, and exactly the first 10 bytes of each stream are kept.
	p := mustPrepare(t, "exec", `{"shell": "head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2; echo done"}`)
	got := runOnce(t, p, 30*time.Second, &Env{OutputLimit: 10})
	require.NoError(t, got.Err)
	assert.Equal(t, 0, got.StatusCode)
	assert.Equal(t, "aaaaaaaaaa", got.Stdout)
	assert.Equal(t, "bbbbbbbbbb", got.Stderr)
	assert.True(t, got.Truncated)

	// Output that fits is not marked truncated, even when it is exactly the limit.
	got = runOnce(t, mustPrepare(t, "exec", `{"shell": "printf 0123456789"}`), 30*time.Second, &Env{OutputLimit: 10})
	assert.Equal(t, "0123456789", got.Stdout)
	assert.False(t, got.Truncated)
}

// TestExecTimeoutKillsProcessGroup is the case of golang/go#23019: the child leaves a
// grandchild that holds stdout open. The run must come back and both must be dead.
func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, "exec", `{"shell": "sleep 600 & echo $!; sleep 600"}`)
	got := runOnce(t, p, 500*time.Millisecond, nil)
	t.Logf("returned after %s", got.Duration)
	pid, err := strconv.Atoi(strings.TrimSpace(got.Stdout))
	require.NoError(t, err, "stdout %q should be the grandchild's pid", got.Stdout)
	t.Cleanup(func() { killIfRunning(pid) })
	assert.Equal(t, CodeTimeout, got.StatusCode)
	require.Error(t, got.Err)
	assert.Equal(t, "timed out after 500ms", got.Err.Error())
	assert.ErrorIs(t, got.Err, context.DeadlineExceeded)
	requireGone(t, pid)
}

// TestExecExitKillsLeftovers: a command that exits normally but leaves a background process
// holding its stdout returns at once, and the leftover is killed with it.
func TestExecExitKillsLeftovers(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, "exec", `{"shell": "sleep 600 & echo $!"}`)
	got := runOnce(t, p, 0, nil)
	t.Logf("returned after %s", got.Duration)
	pid, err := strconv.Atoi(strings.TrimSpace(got.Stdout))
	require.NoError(t, err, "stdout %q should be the background pid", got.Stdout)
	t.Cleanup(func() { killIfRunning(pid) })
	require.NoError(t, got.Err)
	assert.Equal(t, 0, got.StatusCode)
	requireGone(t, pid)
}

// TestExecEscapedProcessHoldingStdout: a process that left the group (setsid) cannot be
// killed with it; the run still returns, after the wait delay, and says the output may be
// incomplete.
func TestExecEscapedProcessHoldingStdout(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	t.Parallel()
	p := mustPrepare(t, "exec", `{"shell": "setsid sh -c 'echo $$; exec sleep 600' & sleep 0.2; echo parent done"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Run(ctx, &Env{Timeout: 30 * time.Second})
	require.NoError(t, err)
	got := res.Outputs[0]
	lines := strings.Fields(got.Stdout)
	require.NotEmpty(t, lines)
	pid, err := strconv.Atoi(lines[0])
	require.NoError(t, err, "stdout %q", got.Stdout)
	t.Cleanup(func() { killIfRunning(pid) })
	assert.NoError(t, got.Err)
	assert.Equal(t, 0, got.StatusCode)
	assert.Contains(t, got.Stdout, "parent done")
	require.Len(t, res.Notes, 1)
	assert.Contains(t, res.Notes[0], "output may be incomplete")
}

func TestExecCancel(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, "exec", `{"shell": "echo $$; sleep 600"}`)
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	defer stop.Stop()
	res, err := p.Run(ctx, &Env{})
	require.NoError(t, err)
	got := res.Outputs[0]
	require.Error(t, got.Err)
	assert.ErrorIs(t, got.Err, context.Canceled)
	assert.Equal(t, codeInterrupted, got.StatusCode)
	if pid, err := strconv.Atoi(strings.TrimSpace(got.Stdout)); err == nil {
		t.Cleanup(func() { killIfRunning(pid) })
		requireGone(t, pid)
	}

	// A context that is already done starts nothing.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	res, err = p.Run(done, &Env{})
	require.NoError(t, err)
	assert.ErrorIs(t, res.Outputs[0].Err, context.Canceled)
	assert.Empty(t, res.Outputs[0].Stdout)
}

// TestExecConcurrent runs one Prepared from many goroutines (run with -race).
func TestExecConcurrent(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, "exec", `{"shell": "echo $X", "env": {"X": "same"}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			res, err := p.Run(context.Background(), &Env{})
			if err == nil && (res.Outputs[0].Stdout != "same\n" || res.Outputs[0].Err != nil) {
				err = errors.New("unexpected output " + res.Outputs[0].Stdout)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o755))
}

// BenchmarkExecTrue is one Prepared.Run of `true`, the unit of the runner's 1000-exec
// benchmark; compare with BenchmarkBareExecTrue.
func BenchmarkExecTrue(b *testing.B) {
	p := mustPrepare(b, "exec", `{"cmd": ["true"]}`)
	env := &Env{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Run(ctx, env)
		if err != nil || res.Outputs[0].StatusCode != 0 || res.Outputs[0].Err != nil {
			b.Fatalf("run: %v %+v", err, res)
		}
	}
}

// BenchmarkExecTrueTimeout is BenchmarkExecTrue under a deadline, as the runner runs it.
func BenchmarkExecTrueTimeout(b *testing.B) {
	p := mustPrepare(b, "exec", `{"cmd": ["true"]}`)
	env := &Env{Timeout: 15 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), env.Timeout)
		res, err := p.Run(ctx, env)
		cancel()
		if err != nil || res.Outputs[0].StatusCode != 0 || res.Outputs[0].Err != nil {
			b.Fatalf("run: %v %+v", err, res)
		}
	}
}

// BenchmarkBareExecTrue is the floor: os/exec running `true` with nothing captured.
func BenchmarkBareExecTrue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := exec.Command("true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecTrueParallel and BenchmarkBareExecTrueParallel compare the two at the
// parallelism of GOMAXPROCS, as the runner's bounded pool does.
func BenchmarkExecTrueParallel(b *testing.B) {
	p := mustPrepare(b, "exec", `{"cmd": ["true"]}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		env := &Env{}
		for pb.Next() {
			res, err := p.Run(context.Background(), env)
			if err != nil || res.Outputs[0].StatusCode != 0 {
				b.Errorf("run: %v %+v", err, res)
				return
			}
		}
	})
}

func BenchmarkBareExecTrueParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := exec.Command("true").Run(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkExecOverhead alternates one Prepared.Run of `true` with one bare
// exec.Command("true").Run(), so that both see the same machine load, and reports each one's
// mean time and their ratio (exec/bare).
func BenchmarkExecOverhead(b *testing.B) {
	p := mustPrepare(b, "exec", `{"cmd": ["true"]}`)
	env := &Env{Timeout: 15 * time.Second}
	var ours, bare time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), env.Timeout)
		res, err := p.Run(ctx, env)
		cancel()
		t1 := time.Now()
		if err != nil || res.Outputs[0].StatusCode != 0 || res.Outputs[0].Err != nil {
			b.Fatalf("run: %v %+v", err, res)
		}
		if err := exec.Command("true").Run(); err != nil {
			b.Fatal(err)
		}
		ours += t1.Sub(t0)
		bare += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(n), "ns/exec")
	b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "ns/bare")
	b.ReportMetric(float64(ours)/float64(bare), "exec/bare")
}
