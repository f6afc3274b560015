// Package examples_test checks the example specs: every examples/*.yaml loads and
// validates (including the ones other packages' owners add), and the host-only ones run.
package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/internal/cli"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// preflight runs the CLI and returns its exit code and decision (-o json).
func preflight(t *testing.T, args ...string) (int, *runner.Decision, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), append(args, "-o", "json", "-q"), nil, &stdout, &stderr)
	if stdout.Len() == 0 {
		return code, nil, stderr.String()
	}
	var d runner.Decision
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &d), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return code, &d, stderr.String()
}

func statuses(d *runner.Decision) map[string]runner.Status {
	out := map[string]runner.Status{}
	for _, r := range d.Requirements {
		out[r.ID] = r.Status
	}
	return out
}

// noCluster makes sure the test does not reach a cluster through the machine's kubeconfig.
func noCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
}

func TestEveryExampleLoadsAndValidates(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "the example specs are examples/*.yaml")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, f)
			require.NoError(t, err)
			require.NotEmpty(t, spec.Requirements)
			for _, r := range spec.Requirements {
				// Data with K_expr keys is prepared when the requirement runs.
				assert.True(t, r.Command.Prepared != nil || len(r.Command.Expressions()) > 0, "%s: command %s prepared", r.ID, r.Command.ID)
			}

			var stdout, stderr bytes.Buffer
			code := cli.Run(context.Background(), []string{"validate", f}, nil, &stdout, &stderr)
			assert.Equal(t, cli.ExitPass, code, stderr.String())
			assert.Contains(t, stdout.String(), "spec is valid")
		})
	}
}

// TestHostChecksPass runs the quick start's spec: it must pass on any Linux machine without a
// cluster, with the opt-in registry checks skipped.
func TestHostChecksPass(t *testing.T) {
	noCluster(t)
	code, d, stderr := preflight(t, "run", "host-checks.yaml")
	require.NotNil(t, d, stderr)
	assert.Equal(t, cli.ExitPass, code, stderr)
	assert.Equal(t, runner.GatePass, d.Gate)
	assert.Equal(t, map[string]runner.Status{
		"kernel":             runner.StatusPass,
		"tmp-writable":       runner.StatusPass,
		"root-disk-free":     runner.StatusPass,
		"root-disk-size":     runner.StatusPass,
		"console-port-free":  runner.StatusPass,
		"registry-reachable": runner.StatusSkipped,
		"registry-api":       runner.StatusSkipped,
	}, statuses(d))
	assert.NotContains(t, stderr, "no kubeconfig", "a host-only spec does not mention the cluster")
}

// TestUpgradeGate runs the upgrade gate through the versions it cares about.
func TestUpgradeGate(t *testing.T) {
	noCluster(t)
	migrated := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(migrated, ".migrated-v2"), nil, 0o644))
	notMigrated := t.TempDir()

	cases := []struct {
		name    string
		data    string
		args    []string
		code    int
		gate    runner.Gate
		changed map[string]runner.Status // statuses other than skipped
	}{
		{name: "install", data: notMigrated, args: []string{"--app-version", "2.1.0"},
			code: cli.ExitPass, gate: runner.GatePass, changed: map[string]runner.Status{}},
		{name: "from 1.x, not migrated", data: notMigrated,
			args: []string{"--phase", "upgrade", "--previous-version", "1.9.3", "--app-version", "2.1.0"},
			code: cli.ExitFail, gate: runner.GateBlocked,
			changed: map[string]runner.Status{"no-downgrade": runner.StatusPass, "v2-data-migrated": runner.StatusFail}},
		{name: "from 1.x, migrated", data: migrated,
			args: []string{"--phase", "upgrade", "--previous-version", "1.9.3", "--app-version", "2.1.0"},
			code: cli.ExitPass, gate: runner.GatePass,
			changed: map[string]runner.Status{"no-downgrade": runner.StatusPass, "v2-data-migrated": runner.StatusPass}},
		{name: "from 2.x", data: notMigrated,
			args: []string{"--phase", "upgrade", "--previous-version", "2.0.1", "--app-version", "2.1.0"},
			code: cli.ExitPass, gate: runner.GatePass,
			changed: map[string]runner.Status{"no-downgrade": runner.StatusPass}},
		{name: "downgrade", data: notMigrated,
			args: []string{"--phase", "upgrade", "--previous-version", "2.1.0", "--app-version", "2.0.0"},
			code: cli.ExitFail, gate: runner.GateBlocked,
			changed: map[string]runner.Status{"no-downgrade": runner.StatusFail}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MYAPP_DATA", tc.data)
			code, d, stderr := preflight(t, append([]string{"run", "upgrade-gate.yaml"}, tc.args...)...)
			require.NotNil(t, d, stderr)
			assert.Equal(t, tc.code, code, stderr)
			assert.Equal(t, tc.gate, d.Gate)
			got := map[string]runner.Status{}
			for id, s := range statuses(d) {
				if s != runner.StatusSkipped {
					got[id] = s
				}
			}
			assert.Equal(t, tc.changed, got)
		})
	}
}

// TestLicenseCheckerWithoutCluster: a cluster spec run where no cluster is configured fails
// closed, with a note saying why, and never passes.
func TestLicenseCheckerWithoutCluster(t *testing.T) {
	noCluster(t)
	code, d, stderr := preflight(t, "run", "license-checker.yaml")
	require.NotNil(t, d, stderr)
	assert.Equal(t, cli.ExitFail, code)
	assert.Equal(t, runner.StatusFail, statuses(d)["license-file-exists"])
	assert.Contains(t, stderr, "running without a cluster")
}
