package analyzer_test

import (
	"context"
	"testing"
	"time"

	"github.com/preflightkit/preflight/analyzer"
)

const typicalCondition = `status_code == 0 && stdout.contains("ok")`

func BenchmarkEvalCondition(b *testing.B) {
	e := mustCompile(b, typicalCondition, analyzer.ScopeCondition)
	c := &analyzer.Context{Phase: "install"}
	in := &analyzer.Input{StatusCode: 0, Stdout: "check ok\n", Duration: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := e.Eval(ctx, c, in)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalConditionWithBudget(b *testing.B) {
	e := mustCompile(b, typicalCondition, analyzer.ScopeCondition)
	c := &analyzer.Context{Phase: "install", Budget: analyzer.NewBudget(1 << 62)}
	in := &analyzer.Input{StatusCode: 0, Stdout: "check ok\n"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.Eval(ctx, c, in); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkEvalOutputJSON(b *testing.B) {
	e := mustCompile(b, `output.items.exists(i, i.metadata.name.startsWith("rook-ceph"))`, analyzer.ScopeCondition)
	in := &analyzer.Input{Stdout: `{"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}},{"metadata":{"name":"rook-ceph-operator"}}]}`}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.Eval(ctx, nil, in); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	results := []analyzer.Result{
		{Status: analyzer.StatusError, Message: analyzer.Message{Text: "could not run"}, Condition: cond(b, nil, ptr(true), "")},
		{Status: analyzer.StatusWarn, Condition: cond(b, ptr(0), nil, `stdout.contains("degraded")`)},
		{Status: analyzer.StatusSuccess, Message: analyzer.Message{Text: "ok: {{ .v }}", Args: map[string]string{"v": "{{repl Trim .Result }}"}},
			Condition: cond(b, ptr(0), nil, typicalCondition)},
		{Status: analyzer.StatusError, Message: analyzer.Message{Text: "failed"}},
	}
	c := &analyzer.Context{Phase: "install"}
	in := &analyzer.Input{StatusCode: 0, Stdout: "check ok\n"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if o := analyzer.Analyze(ctx, "r", results, c, in); o.Matched != 2 {
			b.Fatal(o)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := analyzer.Compile(typicalCondition, analyzer.ScopeCondition); err != nil {
			b.Fatal(err)
		}
	}
}
