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

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := analyzer.Compile(typicalCondition, analyzer.ScopeCondition); err != nil {
			b.Fatal(err)
		}
	}
}
