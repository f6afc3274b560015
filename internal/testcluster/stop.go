package testcluster

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// stop ends everything the cluster runs and removes its state except the logs: components
// (kwok, kubelet and the control plane first), the pods' processes, containerd's shims,
// mounts under the state directory, cgroups, the network namespace, veth pair and bridge.
func stop(ctx context.Context, log *slog.Logger, p paths, announce bool) error {
	// Controllers and the kubelet first, so that nothing restarts what is being killed.
	for _, comp := range []string{compKubeProxy, compKwok, compKubelet, compScheduler, compCM} {
		if pid := runningPid(p, comp); pid != 0 {
			terminate(ctx, pid, 10*time.Second)
			log.Info("stopped", "component", comp, "pid", pid)
		}
	}
	// The pods' processes, then the shims that waited on them.
	if n := killCgroupProcs(); n > 0 {
		log.Info("killed pod processes", "count", n)
	}
	for _, pid := range procsMatching("containerd-shim", p.containerdSock()) {
		terminate(ctx, pid, 2*time.Second)
		log.Info("stopped containerd shim", "pid", pid)
	}
	for _, comp := range []string{compContainerd, compAPIServer, compEtcd, compRegistry} {
		if pid := runningPid(p, comp); pid != 0 {
			terminate(ctx, pid, 10*time.Second)
			log.Info("stopped", "component", comp, "pid", pid)
		}
	}
	// Anything else that names the state directory (a component whose pid file was lost).
	for _, pid := range procsMatching(p.root) {
		terminate(ctx, pid, 2*time.Second)
		log.Info("stopped leftover process", "pid", pid)
	}
	killCgroupProcs()
	removeCgroups()

	if err := unmountUnder(p.root, log); err != nil {
		return err
	}
	teardownServiceNetwork(ctx, log, p)
	if err := teardownNetwork(ctx, log); err != nil {
		return err
	}
	if left := mountsUnder(p.root); len(left) > 0 {
		return fmt.Errorf("mounts left under %s, not removing it: %s", p.root, strings.Join(left, ", "))
	}
	ents, err := os.ReadDir(p.root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.Name() == "logs" || e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p.root, e.Name())); err != nil {
			return fmt.Errorf("remove state: %w", err)
		}
	}
	if announce {
		log.Info("cluster is down; logs kept", "dir", p.logDir())
	}
	return nil
}

// kubepodsDirs returns the kubelet's pod cgroup trees, one per cgroup hierarchy.
func kubepodsDirs() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup/kubepods")
	}
	return dirs
}

// killCgroupProcs SIGKILLs every process in the kubelet's pod cgroups (containers and pause
// processes) and returns how many it found.
func killCgroupProcs() int {
	seen := map[int]bool{}
	// Rounds 100 ms apart, at most 2 s: until a round finds no process left.
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 2*time.Second, true, func(context.Context) (bool, error) {
		found := 0
		for _, root := range kubepodsDirs() {
			_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				if err != nil {
					return nil
				}
				for _, f := range strings.Fields(string(b)) {
					pid, err := strconv.Atoi(f)
					if err != nil || !alive(pid) {
						continue
					}
					_ = syscall.Kill(pid, syscall.SIGKILL)
					seen[pid] = true
					found++
				}
				return nil
			})
		}
		return found == 0, nil
	})
	return len(seen)
}

// removeCgroups removes the (now empty) pod cgroups, deepest first.
func removeCgroups() {
	for _, root := range kubepodsDirs() {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount decodes the octal escapes (\040 for a space) of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or below dir (pod volumes, container root
// filesystems, sandbox network namespaces), repeating for stacked mounts.
func unmountUnder(dir string, log *slog.Logger) error {
	for round := 0; round < 10; round++ {
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				log.Warn("unmount", "path", mp, "err", err)
			}
		}
		log.Info("unmounted", "count", len(mps))
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("cannot unmount %s", strings.Join(left, ", "))
	}
	return nil
}
