package requirement_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

// specN generates a spec of n requirements, each with a when, an exec command and two
// results with a CEL expression each; every expression is distinct, so that each one is
// compiled (the loader compiles a repeated expression once).
func specN(n int) []byte { return specGen(n, true) }

// specGen generates the spec of specN; with distinct false every requirement uses the same
// three expressions, as real specs often repeat status_code == 0.
func specGen(n int, distinct bool) []byte {
	var b strings.Builder
	b.WriteString("# kind: replicated\ncustom_requirements:\n")
	for i := range n {
		k := 0
		if distinct {
			k = i
		}
		fmt.Fprintf(&b, `- id: check-%d
  message: Check %d passes
  when: phase == "upgrade" && vars.tier == "prod-%d"
  command:
    id: exec
    timeout: 30
    data:
      cmd: ["test", "-e", "/etc/file-%d"]
  results:
  - status: success
    message: File %d exists.
    condition:
      expr: status_code == 0 && stdout.trim() == "ok-%d"
  - status: error
    message: File %d is missing.
    condition:
      expr: status_code != %d || stderr.contains("denied")
`, i, i, k, i, i, k, i, k)
	}
	return []byte(b.String())
}

// BenchmarkLoad200 loads a 200-requirement spec with the built-in commands (exec's Prepare
// included) and compiles its 600 CEL expressions.
func BenchmarkLoad200(b *testing.B) {
	data := specN(200)
	if _, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: bytes.NewReader(data)}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad200SameExpressions loads the same spec shape with repeated expressions, which
// are compiled once per load: what remains is the loader's own cost (YAML, schema, checks,
// commands' Prepare).
func BenchmarkLoad200SameExpressions(b *testing.B) {
	data := specGen(200, false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBillionLaughs measures how fast a billion-laughs document is refused.
func BenchmarkBillionLaughs(b *testing.B) {
	data, err := os.ReadFile("testdata/invalid/billion-laughs.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "x.yaml", Reader: bytes.NewReader(data)}); err == nil {
			b.Fatal("loaded")
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	req := &requirement.Requirement{ID: "r", Results: []requirement.Result{
		{Status: requirement.StatusError, Message: requirement.Message{Text: "could not run"}, Condition: cond(b, nil, ptr(true), "")},
		{Status: requirement.StatusWarn, Condition: cond(b, ptr(0), nil, `stdout.contains("degraded")`)},
		{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok: {{ .v }}", Args: map[string]string{"v": "{{repl Trim .Result }}"}},
			Condition: cond(b, ptr(0), nil, `status_code == 0 && stdout.contains("ok")`)},
		{Status: requirement.StatusError, Message: requirement.Message{Text: "failed"}},
	}}
	c := &analyzer.Context{Phase: "install"}
	in := &analyzer.Input{StatusCode: 0, Stdout: "check ok\n"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if o := req.Analyze(ctx, c, in); o.Matched != 2 {
			b.Fatal(o)
		}
	}
}

// benchLoad loads data once per iteration with the default limits; wantErr says whether the
// load must fail.
func benchLoad(b *testing.B, data []byte, wantErr bool) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "bench.yaml", Reader: bytes.NewReader(data)})
		if (err != nil) != wantErr {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad500 loads a large realistic spec: 500 requirements, 1500 distinct expressions.
func BenchmarkLoad500(b *testing.B) { benchLoad(b, specN(500), false) }

// BenchmarkLoadMaxExpressions loads a spec at Limits.MaxExpressions: 666 requirements, 1998
// distinct short expressions.
func BenchmarkLoadMaxExpressions(b *testing.B) { benchLoad(b, specN(666), false) }

// BenchmarkLoadMaxExpressionBytes loads specs at Limits.MaxExpressionBytes (256 KiB) made of
// the costliest expressions to type-check found: chains of filter and map comprehensions, of
// 256 bytes to 8 KiB each (the longest the default counts once).
func BenchmarkLoadMaxExpressionBytes(b *testing.B) {
	for _, size := range []int{256, 1 << 10, 4 << 10, 8 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			weight := max(size, size*size/256)
			var spec strings.Builder
			spec.WriteString("custom_requirements:\n")
			for i := 0; (i+1)*weight <= 256<<10; i++ {
				var expr strings.Builder
				fmt.Fprintf(&expr, "status_code == %d", i)
				for j := 0; expr.Len() < size-60; j++ {
					fmt.Fprintf(&expr, " || [1, 2, 3].filter(x, x > %d).map(y, y * 2).size() > 0", j)
				}
				expr.WriteString(strings.Repeat(" ", size-expr.Len()))
				fmt.Fprintf(&spec, "- id: r%d\n  command: {id: exec, data: {cmd: [ls]}}\n  results:\n  - {status: success, condition: {expr: '%s'}}\n", i, expr.String())
			}
			benchLoad(b, []byte(spec.String()), false)
		})
	}
}

// BenchmarkLoadHostileExpressions refuses the hostile-input issue's spec: 4 MiB of distinct
// expressions, past Limits.MaxExpressions.
func BenchmarkLoadHostileExpressions(b *testing.B) {
	benchLoad(b, []byte(manyResults(requirement.DefaultMaxBytes, true)), true)
}
