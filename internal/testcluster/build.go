package testcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// binaries the cache directory must hold.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
	"kubelet", "kubectl", "kwok", "registry", "pushimage", "pause"}

// toolsDir finds internal/testcluster/tools: next to this source file when the source tree is
// at hand (go test, go run), else under the working directory or one of its parents.
func toolsDir() (string, error) {
	if d := os.Getenv("PREFLIGHT_TESTCLUSTER_TOOLS"); d != "" {
		return d, nil
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "tools")
		if _, err := os.Stat(filepath.Join(d, "build.sh")); err == nil {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		t := filepath.Join(d, "internal", "testcluster", "tools")
		if _, err := os.Stat(filepath.Join(t, "build.sh")); err == nil {
			return t, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("cannot find internal/testcluster/tools (set PREFLIGHT_TESTCLUSTER_TOOLS)")
		}
	}
}

// cacheKey hashes what the binaries of a tools directory are built from: build.sh, pause.c,
// every go.mod, go.sum and .go file of its modules, and the Go version that builds them. The
// kube-proxy module under the main tools directory has its own key (see network.go).
func cacheKey(ctx context.Context, tools string) (string, error) {
	var files []string
	err := filepath.WalkDir(tools, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != tools && d.Name() == kubeProxyModule && filepath.Dir(path) == tools {
				return filepath.SkipDir
			}
			return nil
		}
		switch n := d.Name(); {
		case n == "go.mod", n == "go.sum", n == "build.sh", strings.HasSuffix(n, ".go"), strings.HasSuffix(n, ".c"):
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(tools, f)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	fmt.Fprintf(h, "go %s\n", strings.TrimSpace(string(out)))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ensureBinaries returns the cache directory holding every binary, building it when absent.
func ensureBinaries(ctx context.Context, log *slog.Logger, cacheDir string) (string, error) {
	tools, err := toolsDir()
	if err != nil {
		return "", err
	}
	return ensureBuilt(ctx, log, cacheDir, tools, "bin-", binaries)
}

// ensureBuilt returns cacheDir/<prefix><key of tools>, building it with tools/build.sh when it
// lacks one of bins.
func ensureBuilt(ctx context.Context, log *slog.Logger, cacheDir, tools, prefix string, bins []string) (string, error) {
	key, err := cacheKey(ctx, tools)
	if err != nil {
		return "", fmt.Errorf("cache key: %w", err)
	}
	dir := filepath.Join(cacheDir, prefix+key)
	done := func(dir string) bool { return complete(dir, bins) }
	if done(dir) {
		log.Info("binaries cached", "dir", dir)
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(ctx, filepath.Join(cacheDir, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if done(dir) {
		return dir, nil
	}
	log.Info("building binaries of the cluster (several minutes the first time)", "dir", dir)
	start := time.Now()
	lf, err := os.Create(filepath.Join(cacheDir, "build-"+prefix+key+".log"))
	if err != nil {
		return "", err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(tools, "build.sh"), dir)
	cmd.Dir = tools
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build.sh failed (see %s): %w", lf.Name(), err)
	}
	if !done(dir) {
		return "", fmt.Errorf("build.sh did not produce every binary in %s", dir)
	}
	log.Info("built binaries of the cluster", "dir", dir, "took", time.Since(start).Round(time.Second))
	return dir, nil
}

func complete(dir string, bins []string) bool {
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

// BuildCached returns a directory holding bins, built by dir/build.sh OUTDIR, for tools the
// tests need besides the cluster's (the helm binary of examples/helm, say). Like the cluster's
// binaries it lives in the cache directory (opts.CacheDir), keyed by a hash of dir's build.sh,
// go.mod, go.sum and sources and the Go version, under name-<hash>, so only the first call
// after a change builds.
func BuildCached(ctx context.Context, opts Options, dir, name string, bins ...string) (string, error) {
	opts = opts.withDefaults()
	return ensureBuilt(ctx, opts.Logger, opts.CacheDir, dir, name+"-", bins)
}
