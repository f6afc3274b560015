package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/memtest"
	"github.com/preflightkit/preflight/runner"
)

// The peak memory of preflight run -o json over requirements that each print the most a
// command may keep: 300 exec requirements printing 1 MiB (the case of the hostile-input
// issue, 2.2 GB before the run's output budget and the streamed JSON), measured as the peak
// RSS of a child process, next to a bare loop that runs the same processes at the same
// parallelism and keeps none of their output.

const (
	memRequirements = 300
	memOutput       = command.DefaultOutputLimit
	outputBudget    = 64 << 20 // runner.Options.OutputBudget's default
)

// The child's inputs and where it writes the decision, set by TestPeakRSS.
const (
	envSpec     = "PREFLIGHT_MEMTEST_SPEC"
	envDecision = "PREFLIGHT_MEMTEST_DECISION"
	envFile     = "PREFLIGHT_MEMTEST_FILE"
)

// TestPeakRSSRunChild is the child of TestPeakRSS: preflight run -o json of the spec.
func TestPeakRSSRunChild(t *testing.T) {
	if !memtest.Child(t) {
		t.Skip("run by TestPeakRSS in a child process")
	}
	out, err := os.Create(os.Getenv(envDecision))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var stderr strings.Builder
	if code := Run(context.Background(), []string{"run", os.Getenv(envSpec), "-o", "json", "-q"}, nil, out, &stderr); code != ExitPass {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
}

// TestPeakRSSBareChild is the baseline child of TestPeakRSS: the same processes run at the
// same parallelism, their output captured and dropped.
func TestPeakRSSBareChild(t *testing.T) {
	if !memtest.Child(t) {
		t.Skip("run by TestPeakRSS in a child process")
	}
	var g errgroup.Group
	g.SetLimit(runner.DefaultParallel)
	for range memRequirements {
		g.Go(func() error {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("cat", os.Getenv(envFile))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				return err
			}
			if stdout.Len() != memOutput {
				return fmt.Errorf("cat printed %d bytes", stdout.Len())
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestPeakRSS bounds the peak RSS of preflight run -o json over 300 requirements that each
// print 1 MiB: the decision keeps at most the run's output budget of their output and is
// written requirement by requirement, so the peak stays within a few times the budget above
// the bare loop's instead of growing with the number of requirements.
func TestPeakRSS(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "1MiB")
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), memOutput), 0o600); err != nil {
		t.Fatal(err)
	}
	var spec strings.Builder
	spec.WriteString("custom_requirements:\n")
	for i := range memRequirements {
		fmt.Fprintf(&spec, "- id: big-%d\n  message: prints 1 MiB\n  command: {id: exec, data: {cmd: [cat, %q]}}\n"+
			"  results:\n  - {status: success, message: ok, condition: {status_code: 0}}\n  - {status: error, message: failed}\n", i, file)
	}
	specFile, decisionFile := filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "decision.json")
	if err := os.WriteFile(specFile, []byte(spec.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{envSpec + "=" + specFile, envDecision + "=" + decisionFile, envFile + "=" + file}
	bare, _ := memtest.PeakRSS(t, "TestPeakRSSBareChild", env...)
	run, _ := memtest.PeakRSS(t, "TestPeakRSSRunChild", env...)
	t.Logf("peak RSS: preflight run -o json %d MB, bare loop %d MB", run>>20, bare>>20)

	f, err := os.Open(decisionFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d runner.Decision
	if err := json.NewDecoder(f).Decode(&d); err != nil {
		t.Fatalf("the JSON output does not decode: %v", err)
	}
	kept, trimmed := 0, 0
	for _, r := range d.Requirements {
		kept += len(r.Stdout) + len(r.Stderr)
		if r.OutputTrimmed {
			trimmed++
		}
	}
	t.Logf("the decision keeps %d bytes of output; %d of %d requirements trimmed", kept, trimmed, len(d.Requirements))
	if d.Gate != runner.GatePass || len(d.Requirements) != memRequirements {
		t.Fatalf("gate %s with %d requirements", d.Gate, len(d.Requirements))
	}
	if kept > outputBudget || trimmed < memRequirements-outputBudget/memOutput {
		t.Errorf("the decision keeps %d bytes with %d requirements trimmed; the budget is %d bytes", kept, trimmed, outputBudget)
	}
	if limit := bare + 4*outputBudget; run > limit {
		t.Errorf("peak RSS is %d MB, over %d MB (the bare loop's %d MB + 4 x the output budget)", run>>20, limit>>20, bare>>20)
	}
}
