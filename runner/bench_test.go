package runner

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// benchParallel is the parallelism of both sides of the exec comparison.
const benchParallel = 8

// benchRequirements is 1000 exec requirements running `true`, prepared by the real exec
// command as a loaded spec would be.
func benchRequirements(b *testing.B, n int) *requirement.Spec {
	b.Helper()
	c, ok := command.Builtins().Lookup("exec")
	if !ok {
		b.Fatal("no exec command")
	}
	p, err := c.Prepare([]byte(`{"cmd":["true"]}`), command.SpecContext{})
	if err != nil {
		b.Fatalf("preparing exec: %v", err)
	}
	s := &requirement.Spec{}
	for i := range n {
		s.Requirements = append(s.Requirements, &requirement.Requirement{
			ID:      fmt.Sprintf("true-%d", i),
			Command: requirement.Command{ID: "exec", Timeout: requirement.DefaultTimeout, Prepared: p},
			Results: []requirement.Result{
				{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"}, Condition: &requirement.Condition{StatusCode: intp(0)}},
				{Status: requirement.StatusError, Message: requirement.Message{Text: "failed"}},
			},
		})
	}
	return s
}

// BenchmarkRunner1000ExecTrue runs 1000 exec requirements (`true`) through the runner.
func BenchmarkRunner1000ExecTrue(b *testing.B) {
	s := benchRequirements(b, 1000)
	r, err := New(Options{Parallel: benchParallel})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		d, err := r.Run(context.Background(), s)
		if err != nil {
			b.Fatal(err)
		}
		if d.Gate != GatePass {
			b.Fatalf("gate %s: %+v", d.Gate, d.Requirements[0])
		}
	}
}

// bareLoop runs one 1000 times per iteration from an errgroup at benchParallel: the loop the
// runner is compared with.
func bareLoop(b *testing.B, one func() error) {
	for b.Loop() {
		var g errgroup.Group
		g.SetLimit(benchParallel)
		for range 1000 {
			g.Go(one)
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func truePath(b *testing.B) string {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true on PATH")
	}
	return path
}

// BenchmarkBare1000ExecTrue spawns the same 1000 processes from a bare errgroup at the same
// parallelism: the floor the runner is measured against.
func BenchmarkBare1000ExecTrue(b *testing.B) {
	path := truePath(b)
	bareLoop(b, func() error { return exec.Command(path).Run() })
}

// BenchmarkBareCaptured1000ExecTrue is the bare loop capturing stdout and stderr, as any
// check must: the fair floor for a command that reports output.
func BenchmarkBareCaptured1000ExecTrue(b *testing.B) {
	path := truePath(b)
	bareLoop(b, func() error {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
}

// BenchmarkRunnerOverhead1000 measures the runner alone: 1000 requirements whose command
// returns at once.
func BenchmarkRunnerOverhead1000(b *testing.B) {
	s := &requirement.Spec{}
	run := command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) {
		return &command.Result{Outputs: []command.Output{{StatusCode: 0}}}, nil
	})
	for i := range 1000 {
		s.Requirements = append(s.Requirements, &requirement.Requirement{
			ID:      fmt.Sprintf("r-%d", i),
			Command: requirement.Command{ID: "func", Timeout: requirement.DefaultTimeout, Prepared: run},
			Results: []requirement.Result{{Status: requirement.StatusSuccess, Condition: &requirement.Condition{StatusCode: intp(0)}}},
		})
	}
	r, err := New(Options{Parallel: benchParallel})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Run(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecCommand1000True runs the exec command's Prepared 1000 times from a bare
// errgroup: what the command itself costs over a bare exec.Command, without the runner.
func BenchmarkExecCommand1000True(b *testing.B) {
	p := benchRequirements(b, 1).Requirements[0].Command.Prepared
	env := &command.Env{Logger: slog.New(slog.DiscardHandler)}
	bareLoop(b, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), requirement.DefaultTimeout)
		defer cancel()
		_, err := p.Run(ctx, env)
		return err
	})
}

// benchFanOut is one requirement whose command reports 1000 nodes at once, each matched by a
// CEL condition: what a 1000-node check costs the runner, with or without node events.
func benchFanOut(b *testing.B, onEvent func(Event)) {
	expr, err := analyzer.Compile(`stdout.startsWith("ok") && status_code == 0`, analyzer.ScopeCondition)
	if err != nil {
		b.Fatal(err)
	}
	s := spec(newReq("nodes", nil, results(
		requirement.Result{Status: requirement.StatusSuccess, Condition: &requirement.Condition{Expr: expr}},
		requirement.Result{Status: requirement.StatusError},
	)))
	s.Requirements[0].Command.Prepared = command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
		if env.OnNodeScope != nil {
			env.OnNodeScope(1000)
		}
		outs := make([]command.Output, 1000)
		for i := range outs {
			outs[i] = command.Output{Node: fmt.Sprintf("node-%04d", i), Stdout: "ok", Duration: time.Millisecond}
			if env.OnNodeDone != nil {
				env.OnNodeDone(outs[i])
			}
		}
		return &command.Result{Outputs: outs}, nil
	})
	r, err := New(Options{OnEvent: onEvent})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		d, err := r.Run(context.Background(), s)
		if err != nil || d.Gate != GatePass {
			b.Fatalf("gate %s, err %v", d.Gate, err)
		}
	}
}

// BenchmarkFanOut1000 is a 1000-node requirement without events: the baseline.
func BenchmarkFanOut1000(b *testing.B) { benchFanOut(b, nil) }

// BenchmarkFanOut1000NodeEvents is the same with OnEvent set: 1000 node events, each node
// analysed as it is reported and the analysis reused for the decision.
func BenchmarkFanOut1000NodeEvents(b *testing.B) {
	var n int
	benchFanOut(b, func(e Event) {
		if e.Type == EventNode {
			n++
		}
	})
	if n == 0 {
		b.Fatal("no node event")
	}
}
