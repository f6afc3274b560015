package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// execWaitDelay bounds how long a run waits, once the command's process has exited (or been
// killed), for its stdout and stderr to reach end of file. Only a process that left the
// command's process group (setsid, a daemon) can hold them open that long; the run then
// returns without the rest of its output and says so in Result.Notes.
var execWaitDelay = 500 * time.Millisecond

// execCommand runs a local process on the installer's host: command id "exec".
type execCommand struct{}

// execData is the data of an exec command, as the spec gives it.
type execData struct {
	// Cmd is the argv, as an array of strings or as the legacy string holding a JSON array.
	Cmd json.RawMessage `json:"cmd,omitempty" expr:"list(string)|string"`
	// Shell is a script run as /bin/sh -c <script>; exactly one of Cmd and Shell is set.
	Shell *string `json:"shell,omitempty"`
	// Env is added to the environment the process starts with.
	Env map[string]string `json:"env,omitempty"`
	// Dir is the working directory; empty means the installer's.
	Dir string `json:"dir,omitempty"`
	// InheritEnv (default true) starts from the installer's environment; false starts from
	// an empty one holding only PATH.
	InheritEnv *bool `json:"inherit_env,omitempty"`
}

// DataType returns the type of exec's data.
func (execCommand) DataType() reflect.Type { return reflect.TypeOf(execData{}) }

// execPrepared is a validated exec command.
type execPrepared struct {
	argv     []string
	extraEnv []string // "KEY=value" from data.env, sorted by key
	pathEnv  string   // data.env's PATH, when hasPath
	hasPath  bool
	dir      string
	inherit  bool
}

// Prepare validates data: exactly one of cmd and shell, a non-empty argv, environment names
// without "=", no NUL bytes anywhere (the kernel could not pass them).
func (execCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d execData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	p := &execPrepared{dir: d.Dir, inherit: d.InheritEnv == nil || *d.InheritEnv}
	var errs field.ErrorList
	hasCmd := len(d.Cmd) > 0 && !bytes.Equal(bytes.TrimSpace(d.Cmd), []byte("null"))
	switch {
	case hasCmd && d.Shell != nil:
		errs = append(errs, invalid(dataRoot, "give exactly one of cmd (an argv array) and shell (a script), not both"))
	case d.Shell != nil:
		switch {
		case strings.TrimSpace(*d.Shell) == "":
			errs = append(errs, invalid(dataRoot.Child("shell"), "must not be empty"))
		case strings.IndexByte(*d.Shell, 0) >= 0:
			errs = append(errs, invalid(dataRoot.Child("shell"), "must not contain a NUL byte"))
		}
		p.argv = []string{"/bin/sh", "-c", *d.Shell}
	case hasCmd:
		argv, argvErrs := parseArgv(d.Cmd)
		errs = append(errs, argvErrs...)
		p.argv = argv
	default:
		errs = append(errs, invalid(dataRoot.Child("cmd"), `required: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or a script in data.shell`))
	}
	if strings.IndexByte(d.Dir, 0) >= 0 {
		errs = append(errs, invalid(dataRoot.Child("dir"), "must not contain a NUL byte"))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Env)) {
		v := d.Env[k]
		switch {
		case k == "":
			errs = append(errs, invalid(dataRoot.Child("env"), "variable names must not be empty"))
			continue
		case strings.ContainsAny(k, "=\x00"):
			errs = append(errs, invalid(dataRoot.Child("env").Key(k), "variable names must not contain \"=\" or a NUL byte"))
			continue
		case strings.IndexByte(v, 0) >= 0:
			errs = append(errs, invalid(dataRoot.Child("env").Key(k), "value must not contain a NUL byte"))
			continue
		}
		p.extraEnv = append(p.extraEnv, k+"="+v)
		if k == "PATH" {
			p.pathEnv, p.hasPath = v, true
		}
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}

// parseArgv reads cmd: an array of strings, or the legacy string holding a JSON array.
func parseArgv(raw json.RawMessage) ([]string, field.ErrorList) {
	raw = bytes.TrimSpace(raw)
	var argv []string
	switch raw[0] {
	case '[':
		if err := json.Unmarshal(raw, &argv); err != nil {
			return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), "must be an array of strings")}
		}
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), "%v", err)}
		}
		if !strings.HasPrefix(strings.TrimSpace(s), "[") {
			return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), `%q is not a JSON array: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or put a script in data.shell`, s)}
		}
		if err := json.Unmarshal([]byte(s), &argv); err != nil {
			return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), `the string form must hold a JSON array of strings such as '["test", "-e", "/etc/x"]': %v`, err)}
		}
	default:
		return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), "must be an array of strings, not %s", raw)}
	}
	if len(argv) == 0 {
		return nil, field.ErrorList{invalid(dataRoot.Child("cmd"), "must not be empty")}
	}
	var errs field.ErrorList
	if argv[0] == "" {
		errs = append(errs, invalid(dataRoot.Child("cmd").Index(0), "the program must not be empty"))
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			errs = append(errs, invalid(dataRoot.Child("cmd").Index(i), "must not contain a NUL byte"))
		}
	}
	return argv, errs
}

// Run starts the process in a process group of its own, with stdin from /dev/null and stdout
// and stderr each captured up to env.Limit() bytes. When ctx is done first, the whole group
// is killed with SIGKILL and the output says timeout (CodeTimeout) or canceled, with Err set.
// When the process exits, whatever it left running in its group is killed too, as when a
// container's main process ends. The status code is the exit code, 128+n for a process killed
// by signal n (as a shell reports it), 127 for a program that was not found and 126 for one
// that could not be executed or whose dir is missing; those two also set Err.
func (p *execPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	start := time.Now()
	var out Output
	if ctx.Err() != nil {
		setInterrupted(ctx, env, &out)
		return singleOutput(out, start), nil
	}
	path, err := p.lookPath()
	if err != nil {
		out.StatusCode, out.Err = startFailureCode(err), err
		return singleOutput(out, start), nil
	}
	if p.dir != "" {
		if err := checkDir(p.dir); err != nil {
			out.StatusCode, out.Err = 126, err // the program cannot be run there, as a shell's 126
			return singleOutput(out, start), nil
		}
	}
	res, err := p.start(ctx, env, path)
	if err != nil {
		out.StatusCode, out.Err = startFailureCode(err), err
		return singleOutput(out, start), nil
	}
	res.Outputs[0].Duration = time.Since(start)
	return res, nil
}

// start runs the resolved program and collects its outcome. Its error is a failure to start.
func (p *execPrepared) start(ctx context.Context, env *Env, path string) (*Result, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("creating the stderr pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        p.argv,
		Env:         p.environ(),
		Dir:         p.dir,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	// The child holds its own copies of the write ends; ours must go for EOF to come.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	pgid := cmd.Process.Pid
	limit := env.Limit()
	stdout, stderr := newCappedBuffer(limit), newCappedBuffer(limit)
	readDone := make(chan error, 2)
	go func() { readDone <- copyCapped(stdout, outR) }()
	go func() { readDone <- copyCapped(stderr, errR) }()

	stop := context.AfterFunc(ctx, func() { killGroup(pgid) })
	// An exit status other than 0 is in cmd.ProcessState; another error (no state at all)
	// means the process could not be waited for, for example because the embedding program
	// ignores SIGCHLD and the kernel reaped it.
	waitErr := cmd.Wait()
	ctxStopped := !stop()
	// Whatever the command left in its group goes with it, so that nothing it started
	// outlives the check and holds its output open. While any member lives the group id
	// cannot be reused, and once none does the kill finds nothing (ESRCH); only a pid reused,
	// as a new group's leader, in the microseconds since the reap could be hit.
	killGroup(pgid)
	deadline := time.Now().Add(execWaitDelay)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	var readErrs []error
	for range 2 {
		if err := <-readDone; err != nil {
			readErrs = append(readErrs, err)
		}
	}
	outR.Close()
	errR.Close()

	res := &Result{Outputs: []Output{{
		Stdout:    stdout.String(),
		Stderr:    stderr.String(),
		Truncated: stdout.Truncated() || stderr.Truncated(),
	}}}
	o := &res.Outputs[0]
	switch {
	case ctxStopped:
		setInterrupted(ctx, env, o)
		loggerOf(env).Debug("exec: killed the process group", "requirement", envRequirement(env),
			"program", p.argv[0], "pgid", pgid, "reason", o.Err)
	case cmd.ProcessState == nil:
		o.StatusCode, o.Err = CodeGeneralError, fmt.Errorf("waiting for the process: %w", waitErr)
	default:
		o.StatusCode = exitCode(cmd.ProcessState)
	}
	if len(readErrs) > 0 {
		note := fmt.Sprintf("output may be incomplete: stdout or stderr was still open %s after the process ended (held by a process outside its process group?): %v",
			execWaitDelay, errors.Join(readErrs...))
		res.Notes = append(res.Notes, note)
		loggerOf(env).Warn("exec: output incomplete", "requirement", envRequirement(env), "program", p.argv[0], "err", errors.Join(readErrs...))
	}
	return res, nil
}

// killGroup sends SIGKILL to the process group pgid. A group that is already gone is fine.
func killGroup(pgid int) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// exitCode returns the status code a shell would report for st: the exit status, or 128+n
// for a process killed by signal n.
func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// startFailureCode maps a failure to start a program to a shell's status code: 127 when it
// was not found, 126 when it was found but could not be executed, CodeGeneralError otherwise
// (no more processes or file descriptors).
func startFailureCode(err error) int {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return 127
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR):
		return 126
	}
	return CodeGeneralError
}

// environ returns the process environment: the installer's (or only its PATH when
// inherit_env is false) with data.env on top, and PWD naming dir when one is set, as os/exec
// does for an inherited environment. nil lets os/exec use the installer's as is.
func (p *execPrepared) environ() []string {
	var env []string
	switch {
	case p.inherit && len(p.extraEnv) == 0:
		return nil
	case p.inherit:
		env = append(os.Environ(), p.extraEnv...)
	default:
		env = make([]string, 0, 2+len(p.extraEnv))
		if !p.hasPath {
			env = append(env, "PATH="+os.Getenv("PATH"))
		}
		env = append(env, p.extraEnv...)
	}
	if p.dir != "" {
		if pwd, err := filepath.Abs(p.dir); err == nil {
			env = append(env, "PWD="+pwd)
		}
	}
	return env
}

// lookPath resolves the program as a shell would: a name with a slash is used as is, any
// other is searched in PATH, data.env's PATH when it sets one, the installer's otherwise.
// Relative PATH entries are ignored, as os/exec does for security.
func (p *execPrepared) lookPath() (string, error) {
	file := p.argv[0]
	if !p.hasPath || strings.Contains(file, "/") {
		return exec.LookPath(file)
	}
	for _, dir := range filepath.SplitList(p.pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if lp, err := exec.LookPath(filepath.Join(dir, file)); err == nil {
			return lp, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// envRequirement returns env's requirement id for log records.
func envRequirement(env *Env) string {
	if env == nil {
		return ""
	}
	return env.RequirementID
}

// checkDir reports, naming data.dir, why dir cannot be a working directory. The child's own
// chdir failure would be indistinguishable from a missing program.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data.dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data.dir: %s is not a directory", dir)
	}
	return nil
}
