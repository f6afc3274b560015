package runner

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/memtest"
	"github.com/preflightkit/preflight/requirement"
)

// The peak memory of a run whose every requirement prints the most a command may keep: 1000
// requirements x 1 MiB of stdout (the default OutputLimit), through the runner, measured as
// the peak RSS of a child process, next to a bare loop that produces the same outputs at the
// same parallelism and keeps none of them.

const (
	memRequirements = 1000
	memOutput       = command.DefaultOutputLimit
)

// megabytePrinter returns a command that prints memOutput bytes, a new string each run as
// a real command's captured output is.
func megabytePrinter() command.RunFunc {
	return func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{Stdout: strings.Repeat("x", memOutput)}}}, nil
	}
}

// TestPeakRSSRunChild is the child of TestPeakRSS: a run of 1000 requirements printing 1 MiB.
func TestPeakRSSRunChild(t *testing.T) {
	if !memtest.Child(t) {
		t.Skip("run by TestPeakRSS in a child process")
	}
	reqs := make([]*requirement.Requirement, memRequirements)
	for i := range reqs {
		reqs[i] = newReq(fmt.Sprintf("big-%d", i), megabytePrinter())
	}
	d := mustRun(t, Options{}, spec(reqs...))
	kept, trimmed := 0, 0
	for _, r := range d.Requirements {
		if r.Status != StatusPass {
			t.Fatalf("%s: %s %s", r.ID, r.Status, r.Message)
		}
		kept += len(r.Stdout)
		if r.OutputTrimmed {
			trimmed++
		}
	}
	// What stays reachable with the decision: its kept output, and nothing it was cut from.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(d)
	fmt.Printf("kept %d bytes, %d requirements trimmed, %d bytes live\n", kept, trimmed, ms.HeapAlloc)
}

// TestPeakRSSBareChild is the baseline child of TestPeakRSS: the same 1000 outputs produced
// at the same parallelism, none kept.
func TestPeakRSSBareChild(t *testing.T) {
	if !memtest.Child(t) {
		t.Skip("run by TestPeakRSS in a child process")
	}
	var g errgroup.Group
	g.SetLimit(DefaultParallel)
	var total atomic.Int64
	run := megabytePrinter()
	for range memRequirements {
		g.Go(func() error {
			res, err := run(context.Background(), nil)
			if err == nil {
				total.Add(int64(len(res.Outputs[0].Stdout)))
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("produced %d bytes\n", total.Load())
}

// TestPeakRSS bounds the peak RSS of a run of 1000 requirements that each print 1 MiB: the
// run keeps at most its output budget (64 MiB) of their output, so its peak stays within a
// few times the budget above the bare loop's, instead of growing with the number of
// requirements (1.97 GB before the budget).
func TestPeakRSS(t *testing.T) {
	bare, _ := memtest.PeakRSS(t, "TestPeakRSSBareChild")
	run, out := memtest.PeakRSS(t, "TestPeakRSSRunChild")
	t.Logf("peak RSS: run %d MB, bare loop %d MB (%.2fx)", run>>20, bare>>20, float64(run)/float64(bare))
	var kept, trimmed, live int
	if _, err := fmt.Sscanf(lastLine(out, "kept "), "kept %d bytes, %d requirements trimmed, %d bytes live", &kept, &trimmed, &live); err != nil {
		t.Fatalf("reading what the child kept: %v\n%s", err, out)
	}
	t.Logf("the decision keeps %d bytes of output (%d requirements trimmed); %d MB live after the run", kept, trimmed, live>>20)
	if kept > defaultOutputBudget {
		t.Errorf("the decision keeps %d bytes of output, over the budget of %d", kept, defaultOutputBudget)
	}
	// Nothing the kept output was cut from stays reachable: the live heap is the budget and
	// the decision's small change.
	if slack := 16 << 20; live > defaultOutputBudget+slack {
		t.Errorf("%d MB stay live with the decision, over the budget of %d MB + %d MB", live>>20, defaultOutputBudget>>20, slack>>20)
	}
	// The peak holds the budget, the outputs in flight and the garbage the GC has not yet
	// collected (the GC lets the heap grow to twice what is live, more when 1 MiB strings
	// are made as fast as this command makes them: 230 to 360 MB measured); it must not grow
	// with what the commands printed (1000 MiB here, 1047 MB peak without the budget).
	if limit := bare + memRequirements*memOutput/2; run > limit {
		t.Errorf("peak RSS of the run is %d MB, over %d MB (the bare loop's %d MB + half of what the commands printed)", run>>20, limit>>20, bare>>20)
	}
}

func lastLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
