package runner

import (
	"context"
	"strings"
	"testing"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// The cost of K_expr keys: one requirement whose exec command has three keys given as CEL
// (cmd_expr, dir_expr and an env entry), against the same requirement with the values
// written out, in one run of the runner each. Compare the pairs with benchstat:
//
//	go test -run '^$' -bench 'Values' -count 10 ./runner/
const (
	benchStaticSpec = `custom_requirements:
- id: r
  command: {id: exec, data: {cmd: ["true"], dir: /tmp, env: {TIER: prod}}}
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
`
	benchExprSpec = `custom_requirements:
- id: r
  command: {id: exec, data: {cmd_expr: '[string(vars.prog)]', dir_expr: vars.dir, env: {TIER_expr: vars.tier}}}
  results: [{status: success, condition: {status_code: 0}}, {status: error}]
`
)

var benchVars = map[string]any{"prog": "true", "dir": "/tmp", "tier": "prod"}

func benchLoad(b *testing.B, src string) *requirement.Spec {
	b.Helper()
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: strings.NewReader(src)})
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

// BenchmarkValuesRun runs the requirement (a real process) through the runner: the values'
// evaluation and the command's Prepare at run time are what separates the two.
func BenchmarkValuesRun(b *testing.B) {
	for _, c := range []struct{ name, src string }{{"static", benchStaticSpec}, {"three_expr", benchExprSpec}} {
		b.Run(c.name, func(b *testing.B) {
			spec := benchLoad(b, c.src)
			r, err := New(Options{Vars: benchVars})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				d, err := r.Run(context.Background(), spec)
				if err != nil || d.Gate != GatePass {
					b.Fatalf("gate %v: %v %+v", d.Gate, err, d.Requirements)
				}
			}
		})
	}
}

// BenchmarkValuesResolve is the values' own cost: Command.Resolve alone (static data returns
// the command prepared at load; three K_expr keys are evaluated, put in the data, which the
// exec command then prepares).
func BenchmarkValuesResolve(b *testing.B) {
	for _, c := range []struct{ name, src string }{{"static", benchStaticSpec}, {"three_expr", benchExprSpec}} {
		b.Run(c.name, func(b *testing.B) {
			cmd := benchLoad(b, c.src).Requirements[0].Command
			s := &state{opts: &Options{Vars: benchVars}}
			actx := s.baseContext()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cmd.Resolve(context.Background(), &actx, command.SpecContext{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
