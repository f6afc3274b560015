package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	// No test may reach a real cluster through the machine's kubeconfig: point KUBECONFIG at
	// a file that does not exist, which client-go treats as "nothing configured".
	dir, err := os.MkdirTemp("", "preflight-cli-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("KUBECONFIG", filepath.Join(dir, "no-kubeconfig"))
	os.Unsetenv("KUBERNETES_SERVICE_HOST")
	os.Unsetenv("NO_COLOR")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// invocation is the outcome of one cli.Run.
type invocation struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, ctx context.Context, stdin string, args ...string) invocation {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return invocation{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	// Durations in text output and progress lines.
	{regexp.MustCompile(`\b(<1ms|\d+(\.\d+)?(ns|µs|ms|s)|\d+m\d+(\.\d+)?s)\b`), "<dur>"},
	{regexp.MustCompile(`<<dur>`), "<dur>"},
	// JSON fields that change from run to run.
	{regexp.MustCompile(`"duration": [0-9.e+-]+`), `"duration": 0`},
	{regexp.MustCompile(`"started": "[^"]*"`), `"started": "<time>"`},
	{regexp.MustCompile(`"run_id": "[^"]*"`), `"run_id": "<run-id>"`},
}

// normalize makes output that varies from run to run (durations, times, run ids) stable.
func normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./internal/cli -update")
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s\nrun go test ./internal/cli -update if the change is intended", path, diff)
	}
}

func (inv invocation) transcript(args []string) string {
	return fmt.Sprintf("$ preflight %s\nexit: %d\n--- stdout\n%s--- stderr\n%s",
		strings.Join(args, " "), inv.code, normalize(inv.stdout), normalize(inv.stderr))
}

const specs = "testdata/specs/"

// TestGolden runs command lines through Run and compares exit code, stdout and stderr with
// the golden files.
func TestGolden(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		// run: exit codes and both output formats.
		{"run-pass-text", []string{"run", specs + "pass.yaml", "--parallel", "1", "-q"}, "", ExitPass},
		{"run-pass-json", []string{"run", "-o", "json", "-q", specs + "pass.yaml"}, "", ExitPass},
		{"run-mixed", []string{"run", specs + "mixed.yaml", "--parallel", "1", "-q"}, "", ExitFail},
		{"run-mixed-json", []string{"run", specs + "mixed.yaml", "-q", "-o", "json"}, "", ExitFail},
		{"run-warn", []string{"run", specs + "warn.yaml", "-q"}, "", ExitWarn},
		{"run-depends-not-run", []string{"run", specs + "depends.yaml", "-q"}, "", ExitFail},
		{"run-strict-warn", []string{"run", specs + "strict-warn.yaml", "-q"}, "", ExitWarn},
		{"run-strict-warn-acked", []string{"run", specs + "strict-warn.yaml", "-q", "--ack-warning", "storage-class"}, "", ExitPass},
		{"run-ack-warning-unknown", []string{"run", specs + "strict-warn.yaml", "-q", "--ack-warning", "nope"}, "", ExitUsage},
		{"run-strict-blocked", []string{"run", specs + "strict.yaml", "-q"}, "", ExitFail},
		// --ack: repeatable and comma-separated; acknowledged requirements no longer count.
		{"run-ack-all", []string{"run", specs + "mixed.yaml", "-q", "--ack", "broken,low-memory"}, "", ExitPass},
		{"run-ack-repeated", []string{"run", "--ack", "broken", specs + "mixed.yaml", "--ack=low-memory", "-q"}, "", ExitPass},
		{"run-ack-failure-only", []string{"run", specs + "mixed.yaml", "-q", "--ack", "broken"}, "", ExitWarn},
		{"run-ack-strict", []string{"run", specs + "strict.yaml", "-q", "--ack", "license,broken"}, "", ExitUsage},
		{"run-ack-unknown", []string{"run", specs + "mixed.yaml", "-q", "--ack", "nope"}, "", ExitUsage},
		{"run-strict-others-acked", []string{"run", specs + "strict.yaml", "-q", "--ack", "broken"}, "", ExitFail},
		// Flags before and after the spec paths; --phase.
		{"run-flags-before", []string{"run", "-q", "--phase", "upgrade", specs + "pass.yaml"}, "", ExitFail},
		{"run-flags-after", []string{"run", specs + "pass.yaml", "--phase", "upgrade", "-q"}, "", ExitFail},
		{"run-phase-post-upgrade-json", []string{"run", specs + "pass.yaml", "--phase", "post-upgrade", "-q", "-o", "json"}, "", ExitPass},
		// vars from --set and --values.
		{"run-vars-set", []string{"run", specs + "vars.yaml", "-q", "--set", "tier=prod,db.replicas=3", "--set", "db.ha=true"}, "", ExitPass},
		{"run-vars-values", []string{"run", specs + "vars.yaml", "-q", "--values", "testdata/values/prod.yaml"}, "", ExitPass},
		{"run-vars-values-merged", []string{"run", specs + "vars.yaml", "-q", "-f", "testdata/values/prod.yaml", "-f", "testdata/values/small.yaml"}, "", ExitFail},
		{"run-vars-set-wins", []string{"run", specs + "vars.yaml", "-q", "-f", "testdata/values/prod.yaml", "--set", "db.ha=false"}, "", ExitFail},
		{"run-vars-missing", []string{"run", specs + "vars.yaml", "-q"}, "", ExitFail},
		{"run-timeout", []string{"run", specs + "sleep.yaml", "-q", "--timeout", "300ms"}, "", ExitFail},
		{"run-stdin", []string{"run", "-", "-q"}, mustRead("testdata/specs/warn.yaml"), ExitWarn},
		// Usage errors.
		{"usage-unknown-flag", []string{"run", specs + "pass.yaml", "--bogus"}, "", ExitUsage},
		{"usage-no-spec", []string{"run"}, "", ExitUsage},
		{"usage-bad-phase", []string{"run", specs + "pass.yaml", "--phase", "rollback"}, "", ExitUsage},
		{"usage-bad-output", []string{"run", specs + "pass.yaml", "-o", "yaml"}, "", ExitUsage},
		{"usage-bad-set", []string{"run", specs + "pass.yaml", "--set", "tier"}, "", ExitUsage},
		{"usage-unknown-command", []string{"frobnicate"}, "", ExitUsage},
		{"usage-missing-file", []string{"run", specs + "does-not-exist.yaml"}, "", ExitUsage},
		{"usage-evaluate-no-outputs", []string{"evaluate", specs + "pass.yaml"}, "", ExitUsage},
		{"usage-stdin-twice", []string{"run", "-", "--values", "-"}, "", ExitUsage},
		{"usage-cleanup-flags", []string{"cleanup", "-A", "-n", "x"}, "", ExitUsage},
		// Invalid specs: every problem with its location.
		{"bad-unknown-field", []string{"run", specs + "bad-unknown-field.yaml"}, "", ExitUsage},
		{"bad-cel", []string{"run", specs + "bad-cel.yaml"}, "", ExitUsage},
		{"bad-legacy-template", []string{"run", specs + "bad-legacy-template.yaml"}, "", ExitUsage},
		{"bad-duplicate-id", []string{"validate", specs + "bad-duplicate-id.yaml"}, "", ExitUsage},
		{"bad-command-data", []string{"validate", specs + "bad-command-data.yaml"}, "", ExitUsage},
		{"bad-yaml", []string{"validate", specs + "bad-yaml.yaml"}, "", ExitUsage},
		// validate.
		{"validate-ok", []string{"validate", specs + "pass.yaml", specs + "mixed.yaml"}, "", ExitPass},
		{"validate-stdin", []string{"validate", "-"}, mustRead("testdata/specs/strict.yaml"), ExitPass},
		// cleanup without a cluster.
		{"cleanup-no-cluster", []string{"cleanup"}, "", ExitUsage},
		// rbac: the rules a spec needs, as YAML; data known only at run time is refused.
		{"rbac", []string{"rbac", specs + "rbac.yaml", "-n", "myapp", "--service-account", "gate"}, "", ExitPass},
		{"rbac-runtime-data", []string{"rbac", specs + "rbac-vars.yaml"}, "", ExitUsage},
		{"rbac-host-only", []string{"rbac", specs + "pass.yaml", specs + "mixed.yaml"}, "", ExitPass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv := run(t, context.Background(), tc.stdin, tc.args...)
			assert.Equal(t, tc.code, inv.code, "exit code; stderr:\n%s", inv.stderr)
			assert.NotContains(t, inv.stdout+inv.stderr, "\x1b[", "no colour when not writing to a terminal")
			golden(t, tc.name, inv.transcript(tc.args))
		})
	}
}

func mustRead(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}
