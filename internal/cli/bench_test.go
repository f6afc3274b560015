package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/preflightkit/preflight/runner"
)

// BenchmarkWriteText renders a decision of 200 requirements, each on 10 nodes of which one
// failed.
func BenchmarkWriteText(b *testing.B) {
	d := &runner.Decision{Gate: runner.GateNeedsAck}
	for i := range 200 {
		r := runner.RequirementResult{ID: fmt.Sprintf("req-%03d", i), Status: runner.StatusPass,
			Message: "The check passed on every node.", Duration: runner.Duration(1500 * time.Millisecond)}
		for n := range 10 {
			nr := runner.NodeResult{Node: fmt.Sprintf("node-%02d", n), Status: runner.StatusPass}
			if n == 3 {
				nr.Status, nr.Message = runner.StatusFail, "file missing"
				r.Status = runner.StatusFail
			}
			r.Nodes = append(r.Nodes, nr)
		}
		d.Requirements = append(d.Requirements, r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := writeText(io.Discard, d, false, defaultWidth); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSet parses a --set of 20 pairs with nested keys and a list.
func BenchmarkParseSet(b *testing.B) {
	var parts []string
	for i := range 20 {
		parts = append(parts, fmt.Sprintf("group%d.key%d=value%d", i%4, i, i))
	}
	expr := strings.Join(parts, ",") + ",list={a,b,3,true}"
	b.ReportAllocs()
	for b.Loop() {
		if err := parseSet(map[string]any{}, expr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunPassSpec is the whole `preflight run -o json -q` of a three-requirement spec
// (two local processes and a skip): flag parsing, loading, running, JSON output.
func BenchmarkRunPassSpec(b *testing.B) {
	args := []string{"run", specs + "pass.yaml", "-o", "json", "-q"}
	for b.Loop() {
		if code := Run(context.Background(), args, nil, io.Discard, io.Discard); code != ExitPass {
			b.Fatalf("exit code %d", code)
		}
	}
}
