package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// The regression tests of the hostile-input issue ("fail closed": an error, a timeout, a
// limit, truncated output, an empty spec is never a pass; bad input gets a clear error that
// names the field, its location and the fix). Their inputs are in testdata/hostile/; those
// too large or too odd to commit are generated here.

const hostile = "testdata/hostile/"

// TestHostile runs each hostile input through Run and checks the exit code and what the
// output must and must not say. Every case also checks that no control character reaches
// the output raw.
func TestHostile(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		stdout    []string // must appear on stdout
		stderr    []string // must appear on stderr
		notStdout []string // must not appear on stdout
		gate      string   // the one line on stdout that starts with "Gate:", if any
	}{
		// A spec with no requirements is an invalid spec (exit 2), never Gate: pass.
		{name: "empty file", args: []string{"run", hostile + "empty.yaml"}, code: ExitUsage,
			stderr: []string{hostile + "empty.yaml: the spec is empty", "add at least one requirement under custom_requirements"}},
		{name: "comments only", args: []string{"run", hostile + "comments-only.yaml"}, code: ExitUsage,
			stderr: []string{hostile + "comments-only.yaml: the spec is empty"}},
		{name: "custom_requirements: []", args: []string{"run", hostile + "empty-list.yaml"}, code: ExitUsage,
			stderr: []string{hostile + "empty-list.yaml:2:22: custom_requirements: is empty; add at least one requirement"}},
		{name: "pod templates only", args: []string{"run", hostile + "pods-only.yaml"}, code: ExitUsage,
			stderr: []string{hostile + "pods-only.yaml:2:1: the spec has no requirements document (a map with custom_requirements), only pod templates"}},
		{name: "empty stdin (curl -s URL | preflight run - after a failed download)", args: []string{"run", "-"}, code: ExitUsage,
			stderr: []string{"<stdin>: the spec is empty", "an empty download or an empty stdin"}},
		{name: "empty stdin, validate", args: []string{"validate", "-"}, code: ExitUsage,
			stderr: []string{"<stdin>: the spec is empty"}},
		{name: "whitespace on stdin", args: []string{"run", "-", "-o", "json"}, stdin: "\n  \n", code: ExitUsage,
			stderr: []string{"<stdin>: the spec is empty"}},

		// Terminal escapes in command output, spec text, load errors and paths are shown
		// escaped: they cannot erase the FAIL line or print a fake pass.
		{name: "escapes in command output", args: []string{"run", hostile + "escape-output.yaml"}, code: ExitFail,
			stdout: []string{"FAIL  license  The license check said: missing\\x1b[2K\\x1b[1A \\x1b[32mPASS\\x1b[0m", `\x9bK\u009bK`},
			stderr: []string{"[1/1] fail license"},
			gate:   "Gate: needs acknowledgment (0 passed, 1 failed): re-run with --ack license to accept"},
		{name: "escapes in command output, JSON", args: []string{"run", hostile + "escape-output.yaml", "-o", "json", "-q"}, code: ExitFail,
			stdout: []string{`missing\u001b[2K\u001b[1A\r`, `\ufffdK\u009bK`}},
		{name: "escapes in the spec's messages", args: []string{"run", hostile + "escape-spec.yaml", "-q"}, code: ExitFail,
			stdout: []string{`FAIL  disk  \x1b[1A\x1b[2K PASS disk Enough disk\u009b2K`},
			gate:   "Gate: needs acknowledgment (0 passed, 1 failed): re-run with --ack disk to accept"},
		{name: "escapes in a load error", args: []string{"validate", hostile + "escape-kind.yaml"}, code: ExitUsage,
			stderr: []string{`escape-kind.yaml:2:1: document 1 is apiVersion: v1, kind: \x1b[2K\x0dPod;`}},
		{name: "escapes in a path", args: []string{"run", hostile + "\x1b[2K\x1b[1Anope.yaml"}, code: ExitUsage,
			stderr: []string{`Error: invalid spec: reading spec: open testdata/hostile/\x1b[2K\x1b[1Anope.yaml: no such file or directory`}},

		// CEL calls that escaped every cost limit: refused at load when the estimate can
		// see them (stdout is at most 1 MiB); refused before they run otherwise, failing their
		// requirement with the cost limit while the run goes on.
		{name: "CEL replace building from the output, refused at load", args: []string{"run", hostile + "cel-replace-output.yaml"}, code: ExitUsage,
			stderr: []string{"cel-replace-output.yaml:16:13: custom_requirements[0].results[0].condition.expr: too complex: estimated cost 109951582211 exceeds limit 10000000",
				"replace or join building strings from the output"}},
		{name: "CEL counted repeats on the output, refused at load", args: []string{"run", hostile + "cel-regex-output.yaml"}, code: ExitUsage,
			stderr: []string{"cel-regex-output.yaml:15:13: custom_requirements[0].results[0].condition.expr: too complex: estimated cost 78748359 exceeds limit 10000000",
				"counted repetitions such as .{1000} count as 1000 steps"}},
		{name: "CEL costly calls at run time fail with the cost limit, the run goes on", args: []string{"run", hostile + "cel-costly-at-run.yaml", "--timeout", "5s", "-q"}, code: ExitFail,
			stdout: []string{
				"FAIL  blowup  Output blow-up",
				"condition error: results[0].condition.expr: CEL cost limit per evaluation exceeded (1000000): replace would build a string of 1600080000 bytes from 40000 (cost 160016000); the call was refused before it ran",
				"FAIL  regex   Counted repeats",
				"condition error: results[0].condition.expr: CEL cost limit per evaluation exceeded (1000000): matches would run a pattern of 3002 instructions over 1000000 bytes (cost 75100751); the call was refused before it ran",
				"PASS  after   The run goes on"},
			gate: "Gate: needs acknowledgment (1 passed, 2 failed): re-run with --ack blowup,regex to accept"},

		// An output cut at the limit is never judged as if it were whole.
		{name: "ERROR after the output limit: no pass", args: []string{"run", hostile + "truncated-late-error.yaml", "-q"}, code: ExitFail,
			stdout: []string{
				"FAIL  no-errors        No ERROR line in the log",
				"condition error: the command's output was cut at the output limit, and results[1] (success) matched on conditions that read it (results[0].condition.expr) and not `truncated`",
				"raise the output limit (--output-limit)",
				"PASS  exit-code        exit 0",
				"WARN  knows-truncated  the log was too long to check",
				"note: output truncated to 1048576 bytes"},
			gate: "Gate: needs acknowledgment (1 passed, 1 failed, 1 warning): re-run with --ack no-errors,knows-truncated to accept"},
		{name: "ERROR after the output limit, JSON", args: []string{"run", hostile + "truncated-late-error.yaml", "-q", "-o", "json"}, code: ExitFail,
			stdout: []string{`"truncated": true`, `"condition_error": "the command's output was cut at the output limit, and results[1] (success)`}},
		{name: "ERROR within a raised output limit", args: []string{"run", hostile + "truncated-late-error.yaml", "-q", "--output-limit", "2Mi"}, code: ExitFail,
			stdout:    []string{"FAIL  no-errors        ERROR in the log", "PASS  exit-code        exit 0", "FAIL  knows-truncated  ERROR in the log"},
			notStdout: []string{"output truncated", "cut at the output limit"},
			gate:      "Gate: needs acknowledgment (1 passed, 2 failed): re-run with --ack no-errors,knows-truncated to accept"},
		{name: "--output-limit not a size", args: []string{"run", hostile + "truncated-late-error.yaml", "--output-limit", "2X"}, code: ExitUsage,
			stderr: []string{`invalid argument "2X" for "--output-limit" flag: want a size in bytes, such as 4194304 or 4Mi`}},

		// Smaller ones.
		{name: "timeout too large for an int64", args: []string{"validate", hostile + "timeout-overflow.yaml"}, code: ExitUsage,
			stderr: []string{"timeout-overflow.yaml:7:14: custom_requirements[0].command.timeout: is out of range: the longest timeout is 9223372036 seconds (292 years); use -1 for no timeout"}},
		{name: "failure_limit too large for an int64", args: []string{"validate", hostile + "failure-limit-overflow.yaml"}, code: ExitUsage,
			stderr: []string{"failure-limit-overflow.yaml:11:20: custom_requirements[0].retry.failure_limit: is out of range"}},
		{name: "evaluate: output recorded as skipped", args: []string{"evaluate", hostile + "evaluate.yaml", "--outputs", hostile + "recorded-skipped.json", "-q"}, code: ExitFail,
			stdout: []string{"FAIL  license", "error: no recorded output"},
			gate:   "Gate: needs acknowledgment (0 passed, 1 failed): re-run with --ack license to accept"},
		{name: "evaluate: output recorded as not_run", args: []string{"evaluate", hostile + "evaluate.yaml", "--outputs", hostile + "recorded-not-run.json", "-q"}, code: ExitFail,
			stdout: []string{"FAIL  license", "error: no recorded output"},
			gate:   "Gate: needs acknowledgment (0 passed, 1 failed): re-run with --ack license to accept"},
		{name: "evaluate: id recorded twice", args: []string{"evaluate", hostile + "evaluate.yaml", "--outputs", hostile + "recorded-duplicate.json", "-q"}, code: ExitUsage,
			stderr: []string{`--outputs testdata/hostile/recorded-duplicate.json: requirement "license" is recorded twice (requirements[0] and requirements[1])`}},
		{name: "YAML syntax error: line and column", args: []string{"validate", hostile + "syntax-unclosed.yaml"}, code: ExitUsage,
			stderr: []string{"syntax-unclosed.yaml:6:3: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 5, column 12); close the { at line 5, column 12 with }"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv := run(t, context.Background(), tc.stdin, tc.args...)
			assert.Equal(t, tc.code, inv.code, "exit code; stderr:\n%s", inv.stderr)
			for _, s := range tc.stdout {
				assert.Contains(t, unwrap(inv.stdout), s)
			}
			assert.NotContains(t, inv.stdout+inv.stderr, "Options.", "the CLI speaks of flags, not of Go fields")
			assert.NotContains(t, inv.stdout+inv.stderr, "Limits.", "the CLI speaks of flags, not of Go fields")
			for _, s := range tc.stderr {
				assert.Contains(t, inv.stderr, s)
			}
			for _, s := range tc.notStdout {
				assert.NotContains(t, inv.stdout, s)
			}
			assert.Equal(t, tc.gate, gateLine(inv.stdout), "the gate line")
			if tc.code == ExitUsage {
				assert.Empty(t, inv.stdout, "an invalid input prints no decision")
			}
			assertNoControls(t, inv.stdout, "stdout")
			assertNoControls(t, inv.stderr, "stderr")
		})
	}
}

// gateLine returns the lines of stdout that start with "Gate:" (there is at most one).
func gateLine(stdout string) string {
	var gates []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "Gate:") {
			gates = append(gates, l)
		}
	}
	return strings.Join(gates, "\n")
}

// assertNoControls fails when s holds a control character a terminal would act on: C0 but
// newline and tab, DEL, C1 (as a byte or in UTF-8).
func assertNoControls(t *testing.T, s, what string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		c := s[i]
		bad := (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c == 0x9b ||
			(c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f)
		if bad {
			t.Errorf("%s holds the control byte %#x at %d: %q", what, c, i, s[max(0, i-20):min(len(s), i+20)])
			return
		}
	}
}

// TestHostileRendering checks that the text output and the progress lines escape control
// characters in what does not come from the spec: node names, errors and notes from the
// cluster and the commands, and a recorded decision's ids and gate.
func TestHostileRendering(t *testing.T) {
	t.Parallel()
	code := 1
	d := &runner.Decision{
		Gate:  runner.Gate("pass\x1b[2K"),
		Error: "deadline\x1b[1A",
		Requirements: []runner.RequirementResult{
			{ID: "lic\x1b[2Kense", Status: runner.StatusFail, Message: "missing\u009b2K", Error: "exec\x07failed",
				Notes: []string{"note\x1b]0;title\x07"},
				Nodes: []runner.NodeResult{
					{Node: "node\x1b[2K-a", Status: runner.StatusFail, Message: "no file\x1b[1A", StatusCode: &code},
					{Node: "node\u202e-b", Status: runner.StatusFail, NotRun: "NotReady\x1b[2K"},
					{Node: "node\x9b-c", Status: runner.StatusSkipped, Excluded: "tainted\x00"},
				}},
			{ID: "w\x1b", Status: runner.Status("weird\x1b[2K")},
			{ID: "plain", Status: runner.StatusFail, Message: "missing\u009b2K", Error: "exec\x07failed"},
		},
	}
	var out strings.Builder
	require.NoError(t, writeText(&out, d, false, defaultWidth))
	text := out.String()
	assertNoControls(t, text, "text output")
	for _, want := range []string{`lic\x1b[2Kense`, `missing\u009b2K`, `error: exec\x07failed`, `note: note\x1b]0;title\x07`,
		`FAIL node\x1b[2K-a: no file\x1b[1A`, `NOT RUN node\u202e-b: NotReady\x1b[2K`, `EXCLUDED node\x9b-c: tainted\x00`,
		`WEIRD\x1b[2K  w\x1b  `, `Gate: pass\x1b[2K (`} {
		assert.Contains(t, text, want)
	}
	// Colour adds the CLI's own escapes, and only those.
	out.Reset()
	require.NoError(t, writeText(&out, d, true, defaultWidth))
	stripped := strings.NewReplacer(ansiReset, "", ansiRed, "", ansiGreen, "", ansiYellow, "", ansiGrey, "").Replace(out.String())
	assertNoControls(t, stripped, "coloured text output")

	// Progress, plain and live (whose \r\x1b[K is its own).
	for _, live := range []bool{false, true} {
		var b strings.Builder
		p := newProgress(&b, 1, live)
		p.event(runner.Event{Type: runner.EventStarted, RequirementID: "a\x1b[2K\x1b[1A"})
		p.event(runner.Event{Type: runner.EventNode, RequirementID: "a\x1b[2K\x1b[1A", Attempt: 1, Nodes: 1,
			Node: &runner.NodeResult{Node: "node\x1b[2K-a", Status: runner.StatusFail, Message: "no file\x1b[1A\nsecond line"}})
		p.event(runner.Event{Type: runner.EventFinished, RequirementID: "a\x1b[2K\x1b[1A", Result: &runner.RequirementResult{Status: runner.Status("pass\x1b[1A")}})
		p.done()
		got := strings.ReplaceAll(b.String(), "\r\x1b[K", "")
		assertNoControls(t, got, fmt.Sprintf("progress (live %v)", live))
		assert.Contains(t, got, `a\x1b[2K\x1b[1A`)
		if !live {
			assert.Contains(t, got, `node node\x1b[2K-a fail: no file\x1b[1A`)
		}
	}
}

// TestHostileInterruptedRead cancels the context (as SIGINT and SIGTERM do) while an input
// never ends: stdin or a FIFO whose writer never closes it. Run returns with the interrupted
// exit code instead of waiting for an EOF that never comes (only SIGKILL ended it).
func TestHostileInterruptedRead(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"spec on stdin", []string{"run", "-"}, "interrupted while reading spec <stdin>: context canceled"},
		{"spec on stdin among files", []string{"validate", hostile + "evaluate.yaml", "-"}, "interrupted while reading spec <stdin>: context canceled"},
		{"values on stdin", []string{"run", hostile + "evaluate.yaml", "--values", "-"}, "interrupted while reading --values"},
		{"recorded outputs on stdin", []string{"evaluate", hostile + "evaluate.yaml", "--outputs", "-"}, "interrupted while reading the recorded outputs from stdin"},
	}
	if runtime.GOOS != "windows" {
		fifo := filepath.Join(t.TempDir(), "spec.fifo")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		// Hold the write end open and never close it (O_RDWR does not wait for a reader).
		w, err := os.OpenFile(fifo, os.O_RDWR, 0)
		require.NoError(t, err)
		t.Cleanup(func() { w.Close() })
		_, err = w.WriteString("custom_requirements:\n")
		require.NoError(t, err)
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"spec on a FIFO", []string{"run", fifo}, "interrupted while reading spec " + fifo + ": context canceled"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdin, feed := io.Pipe()
			t.Cleanup(func() { feed.Close() }) // ends the read the CLI gave up on
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- Run(ctx, tc.args, stdin, &stdout, &stderr) }()
			if tc.args[len(tc.args)-1] == "-" {
				// The write returns once the CLI has read it: it is reading stdin now.
				_, err := feed.Write([]byte("# more to come\n"))
				require.NoError(t, err)
			}
			cancel()
			select {
			case code := <-done:
				assert.Equal(t, ExitError, code, "stderr:\n%s", stderr.String())
				assert.Equal(t, "Error: "+tc.want+"\n", stderr.String())
				assert.Empty(t, stdout.String())
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
		})
	}
}

// endless is a stdin that never ends; it counts the bytes read from it.
type endless struct{ read atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	e.read.Add(int64(len(p)))
	return len(p), nil
}

// TestHostileStdinLimit checks that stdin is read no further than the loader's limit on all
// sources together (4 MiB), not 64 MiB per source: alone, and after a 3 MiB file.
func TestHostileStdinLimit(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	line := "# " + strings.Repeat("x", 1021) + "\n"
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat(line, 3<<10)), 0o644)) // 3 MiB
	cases := []struct {
		name  string
		args  []string
		limit int64
		where string
	}{
		{"stdin alone", []string{"run", "-"}, requirement.DefaultMaxBytes, "<stdin>"},
		{"stdin after a 3 MiB file", []string{"validate", big, "-"}, requirement.DefaultMaxBytes - 3<<20, "<stdin>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &endless{}
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, in, &stdout, &stderr)
			assert.Equal(t, ExitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.where+": the spec is larger than 4194304 bytes (the limit)")
			assert.LessOrEqual(t, in.read.Load(), tc.limit+1, "bytes read from stdin")
		})
	}
}

// TestHostileExpressionCount validates a 4 MiB spec of distinct CEL expressions (the
// hostile-input issue's took 61 s and 4.8 GB): it is refused as an invalid spec, before any
// is compiled, naming the limit.
func TestHostileExpressionCount(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("custom_requirements:\n- id: many\n  command: {id: exec, data: {cmd: [ls]}}\n  results:\n")
	for i := 0; ; i++ {
		line := fmt.Sprintf("  - {status: warn, condition: {expr: 'status_code == %d'}}\n", i)
		if b.Len()+len(line) > requirement.DefaultMaxBytes {
			break
		}
		b.WriteString(line)
	}
	spec := filepath.Join(t.TempDir(), "exprs.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(b.String()), 0o644))
	inv := run(t, context.Background(), "", "validate", spec)
	require.Equal(t, ExitUsage, inv.code, inv.stderr)
	assert.Contains(t, inv.stderr, spec+":2005:38: custom_requirements[0].results[2000].condition.expr: the spec has 67827 distinct CEL expressions, more than 2000 (the limit);")
	assert.Empty(t, inv.stdout)
}

// TestHostileProblemCount checks that the count of problems is exact and that the problems
// shown are the first by position: 250 problems, half of them found late (CEL is compiled
// after the schema has run) but written first.
func TestHostileProblemCount(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("custom_requirements:\n")
	for i := range 125 {
		fmt.Fprintf(&b, "- id: r%d\n  when: nope\n  bogus: 1\n  command: {id: exec, data: {cmd: [ls]}}\n  results: [{status: success}]\n", i)
	}
	spec := filepath.Join(t.TempDir(), "many.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(b.String()), 0o644))
	inv := run(t, context.Background(), "", "validate", spec)
	require.Equal(t, ExitUsage, inv.code)
	assert.Contains(t, inv.stderr, "Error: invalid spec (250 problems):\n")
	assert.True(t, strings.HasSuffix(inv.stderr, "\n... and 50 more problems not shown (250 in all)\n"), inv.stderr)
	// The 200 shown are lines 3 to 102 (100 requirements, when then bogus), in order.
	lineOf := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(spec) + `:(\d+):\d+: `)
	var lines []int
	for _, m := range lineOf.FindAllStringSubmatch(inv.stderr, -1) {
		n, _ := strconv.Atoi(m[1])
		lines = append(lines, n)
	}
	require.Len(t, lines, 200)
	for i, n := range lines {
		assert.Equal(t, 3+5*(i/2)+i%2, n, "problem %d", i)
	}
}

// explodingWriter panics when it is given text that holds trigger.
type explodingWriter struct {
	bytes.Buffer
	trigger string
}

func (w *explodingWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.trigger)) {
		panic("writer exploded")
	}
	return w.Buffer.Write(p)
}

func (w *explodingWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// TestHostilePanic checks that a panic (a bug) exits 1 with "internal error: " and the
// panic's message, never with the 2 of a Go crash (which means an invalid spec): in the
// command's own goroutine (printing the decision) and in the runner's (progress events).
func TestHostilePanic(t *testing.T) {
	t.Run("in the command", func(t *testing.T) {
		t.Parallel()
		stdout := &explodingWriter{trigger: "Gate:"}
		var stderr bytes.Buffer
		code := Run(context.Background(), []string{"run", specs + "pass.yaml", "-q"}, nil, stdout, &stderr)
		assert.Equal(t, ExitError, code)
		assert.Equal(t, "Error: internal error: writer exploded\n", stderr.String())
	})
	t.Run("in a progress event", func(t *testing.T) {
		t.Parallel()
		var stdout bytes.Buffer
		stderr := &explodingWriter{trigger: "started"}
		code := Run(context.Background(), []string{"run", specs + "pass.yaml"}, nil, &stdout, stderr)
		assert.Equal(t, ExitError, code)
		assert.Contains(t, stderr.String(), "Error: internal error: writer exploded\n")
	})
	t.Run("with -v, the stack", func(t *testing.T) {
		t.Parallel()
		stdout := &explodingWriter{trigger: "Gate:"}
		var stderr bytes.Buffer
		code := Run(context.Background(), []string{"run", specs + "pass.yaml", "-q", "-v"}, nil, stdout, &stderr)
		assert.Equal(t, ExitError, code)
		assert.Contains(t, stderr.String(), "Error: internal error: writer exploded\ngoroutine ")
	})
}

// TestHostileCELBounded runs the costly CEL calls of cel-costly-at-run.yaml alone (not in
// parallel, so that the allocation figure is the run's): each requirement fails with the
// cost limit, and the whole run allocates about what its outputs take (before the fix: 1.6
// GB and 4.7 s for the replace, 65 s for the match).
func TestHostileCELBounded(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	inv := run(t, context.Background(), "", "run", hostile+"cel-costly-at-run.yaml", "-q", "-o", "json")
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	require.Equal(t, ExitFail, inv.code, inv.stderr)
	var d runner.Decision
	require.NoError(t, json.Unmarshal([]byte(inv.stdout), &d))
	byID := map[string]runner.RequirementResult{}
	for _, r := range d.Requirements {
		byID[r.ID] = r
	}
	for _, id := range []string{"blowup", "regex"} {
		assert.Equal(t, runner.StatusFail, byID[id].Status, id)
		assert.Contains(t, byID[id].ConditionError, "CEL cost limit per evaluation exceeded", id)
	}
	assert.Equal(t, runner.StatusPass, byID["after"].Status)
	alloc := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, alloc, uint64(64<<20), "bytes allocated by the run")
	t.Logf("run took %v and allocated %d KiB", took, alloc>>10)
}

// TestHostileTruncatedHTTPBody: an HTTP body whose ERROR line comes after the output limit
// cannot pass either, and is caught once the limit is raised.
func TestHostileTruncatedHTTPBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("line\n", 1<<18)) // 1.25 MiB
		_, _ = io.WriteString(w, "ERROR\n")
	}))
	defer srv.Close()
	spec := filepath.Join(t.TempDir(), "http.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(fmt.Sprintf(`custom_requirements:
- id: upgradeable
  message: The app says it can be upgraded
  command:
    id: http
    data:
      url: %s/upgradeable
  results:
  - status: error
    message: ERROR in the body
    condition:
      expr: stdout.contains("ERROR")
  - status: success
    message: no ERROR
    condition:
      status_code: 200
`, srv.URL)), 0o644))

	inv := run(t, context.Background(), "", "run", spec, "-q")
	assert.Equal(t, ExitFail, inv.code, inv.stderr)
	assert.Contains(t, inv.stdout, "FAIL  upgradeable  The app says it can be upgraded")
	assert.Contains(t, unwrap(inv.stdout), "condition error: the command's output was cut at the output limit, and results[1] (success) matched on conditions that read it (results[0].condition.expr)")

	inv = run(t, context.Background(), "", "run", spec, "-q", "--output-limit", "2Mi")
	assert.Equal(t, ExitFail, inv.code, inv.stderr)
	assert.Contains(t, inv.stdout, "FAIL  upgradeable  ERROR in the body")
}
