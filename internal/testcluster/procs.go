package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// paths lays out the state directory.
type paths struct{ root string }

func newPaths(root string) paths { return paths{root: filepath.Clean(root)} }

func (p paths) join(elem ...string) string {
	return filepath.Join(append([]string{p.root}, elem...)...)
}
func (p paths) lockFile() string        { return p.join("lock") }
func (p paths) logDir() string          { return p.join("logs") }
func (p paths) runDir() string          { return p.join("run") }
func (p paths) pki() string             { return p.join("pki") }
func (p paths) kubeconfigs() string     { return p.join("kubeconfigs") }
func (p paths) adminKubeconfig() string { return p.join("kubeconfigs", "admin.kubeconfig") }
func (p paths) containerd() string      { return p.join("containerd") }
func (p paths) containerdSock() string  { return p.join("containerd", "containerd.sock") }
func (p paths) kubeletDir() string      { return p.join("kubelet") }
func (p paths) binDirFile() string      { return p.join("run", "bindir") }
func (p paths) fingerprintFile() string { return p.join("run", "fingerprint") }

// The components in start order; Down stops them in reverse.
const (
	compRegistry   = "registry"
	compEtcd       = "etcd"
	compAPIServer  = "kube-apiserver"
	compContainerd = "containerd"
	compCM         = "kube-controller-manager"
	compScheduler  = "kube-scheduler"
	compKubelet    = "kubelet"
	compKwok       = "kwok"
)

var components = []string{compRegistry, compEtcd, compAPIServer, compContainerd, compCM, compScheduler, compKubelet, compKwok}

func (p paths) pidFile(comp string) string { return filepath.Join(p.runDir(), comp+".pid") }

// runningPid returns the pid of comp when it runs (a live, non-zombie process whose command
// line names the state directory, so a recycled pid is not taken for it), or 0.
func runningPid(p paths, comp string) int {
	b, err := os.ReadFile(p.pidFile(comp))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if !alive(pid) {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(p.root)) {
		return 0
	}
	return pid
}

// alive reports whether pid is a process that has not exited (zombies count as exited).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// daemon starts argv as a detached process that outlives this one: its own session, stdin
// from /dev/null, output appended to logs/<comp>.log, pid in run/<comp>.pid.
func daemon(p paths, log *slog.Logger, comp string, env []string, argv ...string) (int, error) {
	lf, err := os.OpenFile(filepath.Join(p.logDir(), comp+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.Dir = p.root
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", comp, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := os.WriteFile(p.pidFile(comp), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, err
	}
	log.Info("started", "component", comp, "pid", pid)
	return pid, nil
}

// terminate sends SIGTERM to pid and waits up to grace for it to exit, then SIGKILLs it.
func terminate(ctx context.Context, pid int, grace time.Duration) {
	if pid <= 0 || !alive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	gone := func(context.Context) (bool, error) { return !alive(pid), nil }
	if wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, grace, true, gone) != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = wait.PollUntilContextTimeout(context.WithoutCancel(ctx), 20*time.Millisecond, 5*time.Second, true, gone)
	}
}

// procsMatching returns the pids of live processes whose command line contains every needle.
func procsMatching(needles ...string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		ok := true
		for _, n := range needles {
			if !bytes.Contains(b, []byte(n)) {
				ok = false
				break
			}
		}
		if ok && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// run runs a short command and returns its combined output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// tailLog returns the last lines of a component's log, for error messages.
func tailLog(p paths, comp string, n int) string {
	b, err := os.ReadFile(filepath.Join(p.logDir(), comp+".log"))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func errIfDead(p paths, comp string, pid int) error {
	if alive(pid) {
		return nil
	}
	return fmt.Errorf("%s exited; last lines of %s:\n%s", comp,
		filepath.Join(p.logDir(), comp+".log"), tailLog(p, comp, 15))
}

var errNotRunning = errors.New("not running")
