package requirement_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

// The fuzz targets. test.sh runs each for a few seconds; their seed corpora are in
// testdata/fuzz/<target>/ (go test runs the seeds as ordinary tests too). Run one longer with
// go test ./requirement -run '^$' -fuzz '^FuzzLoad$' -fuzztime 5m.

// fuzzLimits are small limits, so that the fuzzer reaches them often and each input loads
// fast.
var fuzzLimits = requirement.Limits{MaxBytes: 64 << 10, MaxDocuments: 16, MaxDepth: 16, MaxExpressions: 20, MaxExpressionBytes: 2 << 10}

// FuzzLoad feeds random bytes to Load: it must never panic, it returns either a spec or an
// error, never both or neither, and what it returns stays within the limits: a spec has
// requirements (an empty gate would pass), each with results and a command prepared (or
// expressions to prepare it with when it runs), and no more distinct expressions than
// Limits.MaxExpressions; an error lists its problems, each
// with a message, at most 200 of them.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	reg := fakeRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg, Limits: fuzzLimits},
			requirement.Source{Name: "fuzz.yaml", Reader: bytes.NewReader(data)})
		if (spec == nil) == (err == nil) {
			t.Fatalf("spec %v and error %v", spec, err)
		}
		if err != nil {
			var lerr *requirement.Error
			if !errors.As(err, &lerr) {
				t.Fatalf("a spec read from memory failed with %T, not *requirement.Error: %v", err, err)
			}
			if len(lerr.Problems) == 0 || len(lerr.Problems) > 200 || lerr.Count() != len(lerr.Problems)+lerr.Omitted {
				t.Fatalf("%d problems listed, %d omitted, count %d", len(lerr.Problems), lerr.Omitted, lerr.Count())
			}
			for _, p := range lerr.Problems {
				if p.Message == "" {
					t.Fatalf("a problem without a message at %v", p.Location)
				}
			}
			_ = err.Error()
			return
		}
		if len(spec.Requirements) == 0 {
			t.Fatal("a spec without requirements loaded")
		}
		exprs := map[string]bool{}
		for _, r := range spec.Requirements {
			// A command whose data has K_expr keys is prepared when it runs, with their values.
			values := r.Command.Expressions()
			if r.ID == "" || len(r.Results) == 0 || (r.Command.Prepared == nil && len(values) == 0) {
				t.Fatalf("requirement %q loaded with %d results and prepared command %v", r.ID, len(r.Results), r.Command.Prepared)
			}
			if r.When != nil {
				exprs["when "+r.When.String()] = true
			}
			for _, v := range values {
				exprs["data "+v.String()] = true
			}
			for _, res := range r.Results {
				if res.Condition != nil && res.Condition.Expr != nil {
					exprs["condition "+res.Condition.Expr.String()] = true
				}
				if res.MessageExpr != nil {
					exprs["message "+res.MessageExpr.String()] = true
				}
			}
		}
		if len(exprs) > fuzzLimits.MaxExpressions {
			t.Fatalf("%d distinct expressions loaded, over the limit of %d", len(exprs), fuzzLimits.MaxExpressions)
		}
	})
}

// analyzeSpec is the fixed requirement FuzzAnalyze evaluates random outputs against: its
// conditions read the status code, stdout as text and as JSON, stderr and the command's
// error, and some of them fail to evaluate on some outputs.
const analyzeSpec = `custom_requirements:
- id: fuzzed
  command: {id: exec, data: {cmd: [ls]}}
  results:
  - status: error
    message: fatal
    condition: {error: true, expr: 'stderr.contains("fatal")'}
  - status: success
    message: clean
    condition: {status_code: 0, expr: '!stdout.contains("ERROR") && stderr == ""'}
  - status: warn
    message: numbered warning
    condition: {expr: 'stdout.matches("^warn-[0-9]+$") || size(stderr) > 100'}
  - status: success
    message: all ready
    condition: {expr: 'output.items.all(i, i.ready == true)'}
  - status: success
    message: upper
    condition: {status_code: 3, expr: 'stdout.upperAscii().startsWith("OK")'}
`

// FuzzAnalyze evaluates random command outputs (stdout, stderr, status code and the
// command's error) against a fixed requirement: Analyze must never panic and never pass by
// accident: an evaluation error is an error status with nothing matched, an output whose
// command could not produce a result never passes, a pass is the matched result's and its
// condition holds (checked in Go for the conditions simple enough), and the same output
// always gives the same outcome.
func FuzzAnalyze(f *testing.F) {
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(f)},
		requirement.Source{Name: "analyze.yaml", Reader: strings.NewReader(analyzeSpec)})
	if err != nil {
		f.Fatal(err)
	}
	req := spec.Requirements[0]
	f.Fuzz(func(t *testing.T, stdout, stderr string, code int, cmdErr string) {
		analyse := func() requirement.Outcome {
			c := &analyzer.Context{Budget: analyzer.NewBudget(0)}
			return req.Analyze(context.Background(), c, &analyzer.Input{StatusCode: code, Stdout: stdout, Stderr: stderr, Error: cmdErr})
		}
		out := analyse()
		switch {
		case out.Err != nil && (out.Status != requirement.StatusError || out.Matched != -1):
			t.Fatalf("evaluation error %v with status %s, result %d", out.Err, out.Status, out.Matched)
		case out.Matched == -1 && out.Status != requirement.StatusError:
			t.Fatalf("nothing matched but the status is %s", out.Status)
		case out.Matched >= 0 && req.Results[out.Matched].Status != out.Status:
			t.Fatalf("result %d matched (%s) but the status is %s", out.Matched, req.Results[out.Matched].Status, out.Status)
		case out.Matched == -1 && out.Err == nil && out.Message == "":
			t.Fatal("no result matched and the message does not say so")
		case cmdErr != "" && out.Status == requirement.StatusSuccess:
			t.Fatalf("the command could not produce a result (%q) and the requirement passed (result %d)", cmdErr, out.Matched)
		}
		// The conditions a Go check can mirror.
		if out.Matched == 1 && (code != 0 || strings.Contains(stdout, "ERROR") || stderr != "") {
			t.Fatalf("result 1 (status_code 0, no ERROR, no stderr) matched code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		if out.Matched == 4 && (code != 3 || len(stdout) < 2 || stdout[0]|0x20 != 'o' || stdout[1]|0x20 != 'k') {
			t.Fatalf("result 4 (status_code 3, OK...) matched code %d, stdout %q", code, stdout)
		}
		if again := analyse(); again.Status != out.Status || again.Matched != out.Matched || (again.Err == nil) != (out.Err == nil) {
			t.Fatalf("the same output gave %+v, then %+v", out, again)
		}
	})
}
