package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/runner"
)

// The browser test drives the example console in headless Chromium (Debian's chromium
// package). It skips when no Chromium is found, unless PREFLIGHT_BROWSER_REQUIRED is set
// (./test.sh sets it, so CI fails instead). Screenshots go to $PREFLIGHT_SCREENSHOTS, or a
// temporary folder.

// mixedSpec has a pass, a warn, a requirement that retries until the test releases it, one
// that runs until then, and a strict failure. Host commands only: no cluster needed.
const mixedSpec = `
custom_requirements:
- id: kernel
  message: The host runs Linux
  command:
    id: exec
    data:
      cmd: ["uname", "-s"]
  results:
  - status: success
    message: The kernel is Linux.
    condition:
      expr: stdout.trim() == "Linux"
  - status: error
    message: "Not Linux: {{repl Trim .Result }}"
- id: disk-space
  message: Enough free disk space for the images
  details: The images need 10 GiB under /var/lib/containerd.
  command:
    id: exec
    data:
      shell: echo "3 GiB free"; exit 2
  results:
  - status: success
    condition:
      status_code: 0
    message: Enough space.
  - status: warn
    condition:
      status_code: 2
    message: Only 3 GiB free under /var/lib/containerd; 10 GiB recommended.
  - status: error
    message: Could not measure the free space.
- id: app-upgradeable
  message: The running app says it may be upgraded
  retry: {interval: 200ms, timeout: 2m}
  command:
    id: exec
    data:
      shell: test -e "$GATE_DIR/go"
      env: {GATE_DIR: "@GATE_DIR@"}
  results:
  - status: success
    condition:
      status_code: 0
    message: The app is ready to upgrade.
  - status: error
    message: The app is still busy (a backup runs).
- id: data-migration
  message: The data migration has finished
  command:
    id: exec
    timeout: 120
    data:
      shell: while [ ! -e "$GATE_DIR/go" ]; do sleep 0.05; done
      env: {GATE_DIR: "@GATE_DIR@"}
  results:
  - status: success
    condition:
      status_code: 0
    message: The data is migrated.
  - status: error
    message: The migration did not finish.
- id: old-ceph-gone
  message: The old rook-ceph is torn down
  strict: true
  command:
    id: exec
    data:
      shell: echo "rook-ceph-operator is running in namespace rook-ceph"; exit 1
  results:
  - status: success
    condition:
      status_code: 0
    message: No rook-ceph left.
  - status: error
    message: The old rook-ceph still runs in namespace rook-ceph; tear it down first (kubectl delete -f rook-ceph.yaml).
`

// ackSpec has a pass and a warn.
const ackSpec = `
custom_requirements:
- id: kernel
  message: The host runs Linux
  command:
    id: exec
    data:
      cmd: ["uname", "-s"]
  results:
  - status: success
    message: The kernel is Linux.
    condition:
      status_code: 0
  - status: error
    message: uname failed.
- id: memory
  message: Enough memory for the app
  command:
    id: exec
    data:
      shell: exit 2
  results:
  - status: success
    condition:
      status_code: 0
    message: Enough memory.
  - status: warn
    message: 6 GiB of memory; 8 GiB recommended for production.
`

func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("PREFLIGHT_CHROMIUM"), "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("PREFLIGHT_BROWSER_REQUIRED") != "" {
		t.Fatal("no Chromium found (PREFLIGHT_BROWSER_REQUIRED is set): install Debian's chromium package (internal/testcluster/install-deps.sh does) or set PREFLIGHT_CHROMIUM")
	}
	t.Skip("no Chromium found: install Debian's chromium package to run the browser test")
	return ""
}

// startConsole runs the console's main on a free port with spec (its text, with @GATE_DIR@
// for the gate folder) and args (default: no cluster), and returns its URL and the folder.
func startConsole(t *testing.T, spec string, args ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "preflight.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(spec, "@GATE_DIR@", dir)), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	exited := make(chan int, 1)
	var logs strings.Builder
	go func() {
		if len(args) == 0 {
			args = []string{"--kubeconfig", ""} // host commands only
		}
		args = append([]string{"--spec", path, "--addr", "127.0.0.1:0"}, args...)
		exited <- run(ctx, args, &syncWriter{b: &logs}, func(a string) { addr <- a })
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			select {
			case code := <-exited:
				assert.Equal(t, exitOK, code, "the console stops cleanly")
			case <-time.After(2 * time.Minute):
				t.Error("the console did not stop")
			}
		})
		return "http://" + a + "/", dir
	case code := <-exited:
		cancel()
		t.Fatalf("the console exited with %d:\n%s", code, logs.String())
	}
	return "", ""
}

// browser starts headless Chromium with the flags that work on the test machines.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		tcancel()
		cancel()
		acancel()
	})
	require.NoError(t, chromedp.Do(tctx, chromedp.EmulateViewport(1280, 900)))
	return tctx
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PREFLIGHT_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// waitFor polls a JavaScript condition in the page.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(60*time.Second)))
	require.NoError(t, err, "waiting for %s (%s)", what, js)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// row is the JavaScript for a requirement's row.
func row(id string) string { return fmt.Sprintf(`document.querySelector('tr[data-id=%q]')`, id) }

func status(t *testing.T, ctx context.Context, id string) string {
	return eval[string](t, ctx, row(id)+`.dataset.status`)
}

// TestBrowserBlockedRun runs the mixed spec: the page shows each state live (running with a
// ticking time, retries with their attempt, the strict failure as blocking), Deploy stays
// disabled throughout and the strict failure offers no acknowledgment.
func TestBrowserBlockedRun(t *testing.T) {
	ctx := browser(t)
	url, dir := startConsole(t, mixedSpec)
	shots := screenshotDir(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	waitFor(t, ctx, "the rows", `document.querySelectorAll('tr[data-status="pending"]').length === 5`)
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`), "Deploy is disabled before a run")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#start"))))
	waitFor(t, ctx, "the migration running", row("data-migration")+`.dataset.status === 'running'`)
	waitFor(t, ctx, "a second attempt", row("app-upgradeable")+`.querySelector('.attempt')?.textContent.startsWith('Attempt 2 failed; retrying')`)
	waitFor(t, ctx, "the quick ones", row("kernel")+`.dataset.status === 'pass' && `+row("disk-space")+`.dataset.status === 'warn' && `+row("old-ceph-gone")+`.dataset.status === 'fail'`)
	assert.Equal(t, "running", status(t, ctx, "app-upgradeable"), "it retries while the app is busy")
	assert.Equal(t, "true", eval[string](t, ctx, row("old-ceph-gone")+`.dataset.blocking`), "a strict failure is marked blocking")
	assert.Contains(t, eval[string](t, ctx, row("old-ceph-gone")+`.textContent`), "Blocking")
	assert.Equal(t, "running", eval[string](t, ctx, `document.getElementById('gate').dataset.gate`))
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`), "Deploy is disabled while the run runs")
	assert.Zero(t, eval[int](t, ctx, `document.querySelectorAll('button.ack').length`), "nothing to acknowledge before the run is done")
	// The running requirement's time goes on.
	first := eval[string](t, ctx, row("data-migration")+`.querySelector('.time').textContent`)
	require.NotEmpty(t, first)
	waitFor(t, ctx, "the time to move", fmt.Sprintf(`%s.querySelector('.time').textContent !== %q`, row("data-migration"), first))
	screenshot(t, ctx, shots, "console-running.png")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)) // the app is ready, the migration ends
	waitFor(t, ctx, "the gate", `document.getElementById('gate').dataset.gate === 'blocked'`)
	for id, want := range map[string]string{"kernel": "pass", "disk-space": "warn", "app-upgradeable": "pass", "data-migration": "pass", "old-ceph-gone": "fail"} {
		assert.Equal(t, want, status(t, ctx, id), id)
	}
	assert.Regexp(t, `^\d+ attempts$`, eval[string](t, ctx, row("app-upgradeable")+`.querySelector('.attempt').textContent`))
	assert.Equal(t, "5 of 5 requirements done.", eval[string](t, ctx, `document.getElementById('summary').textContent`))
	waitFor(t, ctx, "the live region", `document.getElementById('live').textContent === '5 of 5 requirements done.'`)
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`), "Deploy stays disabled when the gate is blocked")
	assert.Zero(t, eval[int](t, ctx, row("old-ceph-gone")+`.querySelectorAll('button').length`), "a strict failure has no Acknowledge control")
	assert.Contains(t, eval[string](t, ctx, row("old-ceph-gone")+`.textContent`), "Cannot be acknowledged")
	assert.Equal(t, 1, eval[int](t, ctx, row("disk-space")+`.querySelectorAll('button.ack').length`), "the warning can be acknowledged")

	// Acknowledging the warning does not unblock the gate.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#by"), "Ana Admin"),
		chromedp.Click(chromedp.CSS(`tr[data-id="disk-space"] button.ack`)),
	))
	waitFor(t, ctx, "the acknowledgment", row("disk-space")+`.dataset.acknowledged === 'true'`)
	assert.Equal(t, "blocked", eval[string](t, ctx, `document.getElementById('gate').dataset.gate`))
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`), "a strict failure still blocks")
	screenshot(t, ctx, shots, "console-blocked.png")

	// The server refuses too: the strict failure cannot be acknowledged through the API.
	id := strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#run=")
	resp, err := http.Post(url+"api/runs/"+id+"/acknowledge", "application/json", strings.NewReader(`{"ids": ["old-ceph-gone"], "by": "mallory"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp, err = http.Post(url+"api/deploy", "application/json", strings.NewReader(fmt.Sprintf(`{"run": %q}`, id)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "the server holds Deploy whatever the page does")
}

// TestBrowserAcknowledgeEnablesDeploy runs a pass and a warn: the user acknowledges the
// warning with the keyboard, Deploy becomes enabled, and the decision records who and when.
func TestBrowserAcknowledgeEnablesDeploy(t *testing.T) {
	ctx := browser(t)
	url, _ := startConsole(t, ackSpec)
	shots := screenshotDir(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	waitFor(t, ctx, "the rows", `document.querySelectorAll('tr[data-status="pending"]').length === 2`)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#by"), "Ana Admin"),
		chromedp.Click(chromedp.CSS("#start")),
	))
	waitFor(t, ctx, "the gate", `document.getElementById('gate').dataset.gate === 'needs_ack'`)
	assert.Equal(t, "pass", status(t, ctx, "kernel"))
	assert.Equal(t, "warn", status(t, ctx, "memory"))
	assert.True(t, eval[bool](t, ctx, `document.getElementById('deploy').disabled`), "Deploy waits for the acknowledgment")
	assert.Zero(t, eval[int](t, ctx, row("kernel")+`.querySelectorAll('button.ack').length`), "a pass needs no acknowledgment")

	// With the keyboard: focus the control and press Enter.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(`tr[data-id="memory"] button.ack`)),
		chromedp.KeyEvent(kb.Enter),
	))
	waitFor(t, ctx, "Deploy enabled", `!document.getElementById('deploy').disabled`)
	assert.Equal(t, "pass", eval[string](t, ctx, `document.getElementById('gate').dataset.gate`))
	assert.Contains(t, eval[string](t, ctx, row("memory")+`.textContent`), "Acknowledged by Ana Admin at")

	// The decision has the acknowledgment, who and when.
	id := strings.TrimPrefix(eval[string](t, ctx, `location.hash`), "#run=")
	resp, err := http.Get(url + "api/runs/" + id)
	require.NoError(t, err)
	var body struct {
		Decision      runner.Decision `json:"decision"`
		DeployAllowed bool            `json:"deploy_allowed"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.True(t, body.DeployAllowed)
	mem := body.Decision.Requirements[1]
	require.Equal(t, "memory", mem.ID)
	require.NotNil(t, mem.Acknowledgment)
	assert.Equal(t, "Ana Admin", mem.Acknowledgment.By)
	assert.WithinDuration(t, time.Now(), mem.Acknowledgment.At, 5*time.Minute)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#deploy"))))
	waitFor(t, ctx, "the deploy answer", `document.getElementById('message').textContent.startsWith('The gate allows deploy')`)
	screenshot(t, ctx, shots, "console-acknowledged.png")

	// A reload replays the run from its events and shows the same.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload()))
	waitFor(t, ctx, "the replayed run", `!document.getElementById('deploy').disabled && `+row("memory")+`.dataset.acknowledged === 'true'`)
}

// syncWriter serialises writes to a strings.Builder (the console logs from goroutines).
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
