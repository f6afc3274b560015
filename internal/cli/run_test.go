package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/runner"
	"github.com/preflightkit/preflight/schema"
)

// statuses returns id -> status (and acknowledged marker) of a decision.
func statuses(d *runner.Decision) map[string]string {
	out := map[string]string{}
	for _, r := range d.Requirements {
		s := string(r.Status)
		if r.Acknowledged {
			s += "+ack"
		}
		out[r.ID] = s
	}
	return out
}

func decodeDecision(t *testing.T, s string) *runner.Decision {
	t.Helper()
	var d runner.Decision
	require.NoError(t, json.Unmarshal([]byte(s), &d), "stdout must be only the decision JSON:\n%s", s)
	return &d
}

// TestRunJSONIsTheDecision checks that -o json prints exactly the runner's Decision: it
// decodes into runner.Decision and stdout holds nothing else, even with progress on.
func TestRunJSONIsTheDecision(t *testing.T) {
	t.Parallel()
	inv := run(t, context.Background(), "", "run", specs+"mixed.yaml", "-o", "json")
	require.Equal(t, ExitFail, inv.code, inv.stderr)
	d := decodeDecision(t, inv.stdout)
	assert.Equal(t, runner.GateNeedsAck, d.Gate)
	assert.Equal(t, map[string]string{"ok": "pass", "broken": "fail", "low-memory": "warn"}, statuses(d))
	assert.Contains(t, inv.stderr, "started ok", "progress goes to stderr")
}

// TestEvaluateRoundTrip feeds run -o json back as recorded outputs: evaluate gives the same
// statuses without running anything, and new vars or acks change the analysis, not the
// outputs.
func TestEvaluateRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	recorded := filepath.Join(dir, "recorded.json")

	first := run(t, context.Background(), "", "run", specs+"mixed.yaml", "-q", "-o", "json")
	require.Equal(t, ExitFail, first.code, first.stderr)
	require.NoError(t, os.WriteFile(recorded, []byte(first.stdout), 0o644))

	again := run(t, context.Background(), "", "evaluate", specs+"mixed.yaml", "--outputs", recorded, "-q", "-o", "json")
	require.Equal(t, ExitFail, again.code, again.stderr)
	assert.Equal(t, statuses(decodeDecision(t, first.stdout)), statuses(decodeDecision(t, again.stdout)))

	acked := run(t, context.Background(), "", "evaluate", "--ack", "broken,low-memory", specs+"mixed.yaml", "--outputs", recorded, "-q")
	assert.Equal(t, ExitPass, acked.code, acked.stderr)

	// The recorded outputs can come from stdin too.
	piped := run(t, context.Background(), first.stdout, "evaluate", specs+"mixed.yaml", "--outputs", "-", "-q", "-o", "json")
	require.Equal(t, ExitFail, piped.code, piped.stderr)
	assert.Equal(t, statuses(decodeDecision(t, first.stdout)), statuses(decodeDecision(t, piped.stdout)))
}

func TestEvaluateRejectsBadRecordings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "not.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("gate: pass\n"), 0o644))
	unknown := filepath.Join(dir, "unknown.json")
	require.NoError(t, os.WriteFile(unknown, []byte(`{"gate": "pass", "verdict": "yes"}`), 0o644))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"not json":      {[]string{"--outputs", notJSON}, "not a decision from preflight run -o json"},
		"unknown field": {[]string{"--outputs", unknown}, `unknown field "verdict"`},
		"missing file":  {[]string{"--outputs", filepath.Join(dir, "nope.json")}, "no such file"},
		"both stdin":    {[]string{"--outputs", "-", "-"}, "cannot both be read from stdin"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"evaluate", specs + "pass.yaml"}, tc.args...)
			inv := run(t, context.Background(), "", args...)
			assert.Equal(t, ExitUsage, inv.code)
			assert.Contains(t, inv.stderr, tc.want)
			assert.Empty(t, inv.stdout)
		})
	}
}

// TestInterrupt cancels the context once the command runs (it says so through a FIFO, so no
// sleep decides when) and checks that the run stops, says so on stderr and exits 1, well
// before the command would have finished: the command blocks for a minute, and Run must
// return within a quarter of that after the cancel (in practice well under a second; the
// CLI's own cleanup grace, 30 s, is above the bound, so a command left running fails it).
func TestInterrupt(t *testing.T) {
	t.Parallel()
	const blockFor = time.Minute
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	spec := filepath.Join(dir, "block.yaml")
	require.NoError(t, os.WriteFile(spec, fmt.Appendf(nil, `custom_requirements:
- id: blocker
  message: blocks
  command:
    id: exec
    timeout: %d
    data:
      cmd: ["sh", "-c", "echo started > \"$0\" && exec sleep %d", %q]
  results:
  - status: success
    condition:
      status_code: 0
`, int(3*blockFor/time.Second), int(blockFor/time.Second), fifo), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		inv      invocation
		returned time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		inv := run(t, ctx, "", "run", spec, "-q")
		done <- outcome{inv, time.Now()}
	}()
	started := make(chan error, 1)
	go func() {
		// Blocks until the command opens the FIFO to write.
		b, err := os.ReadFile(fifo)
		if err == nil && strings.TrimSpace(string(b)) != "started" {
			err = fmt.Errorf("read %q from the FIFO", b)
		}
		started <- err
	}()
	select {
	case err := <-started:
		require.NoError(t, err)
	case o := <-done:
		t.Fatalf("the run ended before its command started: exit %d\n%s", o.inv.code, o.inv.stderr)
	}
	cancelled := time.Now()
	cancel()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(2 * blockFor):
		t.Fatalf("Run did not return %s after the cancel", 2*blockFor)
	}
	took := o.returned.Sub(cancelled)
	assert.Equal(t, ExitError, o.inv.code, o.inv.stderr)
	assert.Contains(t, o.inv.stderr, "interrupted")
	assert.Less(t, took, blockFor/4, "Run returns well before the command would have finished (%s after the cancel)", took)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	text := run(t, context.Background(), "", "version")
	require.Equal(t, ExitPass, text.code, text.stderr)
	assert.True(t, strings.HasPrefix(text.stdout, "preflight "), text.stdout)
	assert.Contains(t, text.stdout, "go: "+runtime.Version())

	js := run(t, context.Background(), "", "version", "-o", "json")
	require.Equal(t, ExitPass, js.code, js.stderr)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &v))
	assert.Equal(t, runtime.Version(), v.GoVersion)
	assert.NotEmpty(t, v.Version)

	extra := run(t, context.Background(), "", "version", "extra")
	assert.Equal(t, ExitUsage, extra.code)
}

func TestSchema(t *testing.T) {
	t.Parallel()
	inv := run(t, context.Background(), "", "schema")
	require.Equal(t, ExitPass, inv.code, inv.stderr)
	assert.True(t, json.Valid([]byte(inv.stdout)), "the schema is JSON")
	assert.Equal(t, strings.TrimRight(string(schema.JSON()), "\n")+"\n", inv.stdout)
	lines := strings.SplitN(inv.stdout, "\n", 4)
	golden(t, "schema-head", strings.Join(lines[:3], "\n")+"\n")
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--help"}, {"run", "--help"}, {"help", "evaluate"}} {
		inv := run(t, context.Background(), "", args...)
		assert.Equal(t, ExitPass, inv.code, "%q: %s", args, inv.stderr)
		assert.Contains(t, inv.stdout, "preflight", "%q", args)
	}
	inv := run(t, context.Background(), "", "run", "--help")
	for _, flag := range []string{"--set", "--values", "--phase", "--app-version", "--previous-version", "--ack", "--output", "--parallel", "--timeout", "--namespace", "--kubeconfig", "--context", "--quiet"} {
		assert.Contains(t, inv.stdout, flag)
	}
}

// TestExplicitKubeconfig: an explicit --kubeconfig that cannot be used is a usage error, while
// a missing implicit one runs host-only specs without a cluster (the golden run cases).
func TestExplicitKubeconfig(t *testing.T) {
	t.Parallel()
	inv := run(t, context.Background(), "", "run", specs+"pass.yaml", "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, ExitUsage, inv.code)
	assert.Contains(t, inv.stderr, "--kubeconfig")
}

// req is a requirement result for decision tables.
func req(id string, s runner.Status, strict, acked bool) runner.RequirementResult {
	return runner.RequirementResult{ID: id, Status: s, Strict: strict, Acknowledged: acked}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		d    runner.Decision
		want int
	}{
		{"empty pass", runner.Decision{Gate: runner.GatePass}, ExitPass},
		{"pass and skipped", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			req("a", runner.StatusPass, false, false), req("b", runner.StatusSkipped, false, false)}}, ExitPass},
		{"failure", runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, false, false), req("b", runner.StatusWarn, false, false)}}, ExitFail},
		{"warning only", runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{
			req("a", runner.StatusWarn, false, false)}}, ExitWarn},
		{"acked failure, warning left", runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, false, true), req("b", runner.StatusWarn, false, false)}}, ExitWarn},
		{"all acked", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, false, true), req("b", runner.StatusWarn, false, true)}}, ExitPass},
		{"blocked", runner.Decision{Gate: runner.GateBlocked, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, true, false)}}, ExitFail},
		// Fail closed on inconsistent decisions.
		{"pass gate with a failure", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, false, false)}}, ExitFail},
		{"acked strict still fails", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			req("a", runner.StatusFail, true, true)}}, ExitFail},
		{"needs_ack with nothing to ack", runner.Decision{Gate: runner.GateNeedsAck}, ExitFail},
		{"unknown status", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			req("a", "exploded", false, false)}}, ExitFail},
		{"unknown gate", runner.Decision{Gate: "maybe"}, ExitFail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, exitCode(&tc.d))
		})
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	code1, code137 := 1, 137
	d := &runner.Decision{
		Gate: runner.GateBlocked,
		Requirements: []runner.RequirementResult{
			{ID: "kernel", Status: runner.StatusPass, Message: "Linux", Duration: runner.Duration(3 * time.Millisecond)},
			{ID: "license-file", Status: runner.StatusFail, Strict: true, Message: "License missing on 1 node",
				Duration: runner.Duration(2500 * time.Millisecond), Privileged: true,
				Nodes: []runner.NodeResult{
					{Node: "node-a", Status: runner.StatusPass, StatusCode: new(int)},
					{Node: "node-b", Status: runner.StatusFail, Message: "File missing", StatusCode: &code1},
					{Node: "node-c", Status: runner.StatusFail, NotRun: "node is NotReady", Error: "not run"},
					{Node: "cp-1", Status: runner.StatusSkipped, Excluded: "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"},
					{Node: "node-d", Status: runner.StatusFail, Error: "killed", StatusCode: &code137},
				}},
			{ID: "memory", Status: runner.StatusWarn, Message: "Only 4 GiB\nper node", Duration: runner.Duration(90 * time.Second)},
			{ID: "disk", Status: runner.StatusFail, Acknowledged: true, Message: "Disk small", Duration: runner.Duration(500 * time.Microsecond)},
			{ID: "timeout", Status: runner.StatusFail, Error: "command timed out after 15s", Notes: []string{"retried 3 times"}},
			{ID: "upgrade-only", Status: runner.StatusSkipped},
			{ID: "ready", Status: runner.StatusFail, Message: "The operator is ready", StatusCode: new(int),
				ConditionError: "results[0].condition.expr: 1:7: no such key: ready"},
		},
	}
	var plain, coloured strings.Builder
	require.NoError(t, writeText(&plain, d, false, defaultWidth))
	require.NoError(t, writeText(&coloured, d, true, defaultWidth))
	golden(t, "text-render", plain.String())
	assert.NotContains(t, plain.String(), "\x1b[")
	assert.Contains(t, coloured.String(), ansiGreen+"PASS"+ansiReset)
	assert.Contains(t, coloured.String(), ansiRed+"FAIL"+ansiReset)
	assert.Contains(t, coloured.String(), ansiYellow+"WARN"+ansiReset)
	// Without the escapes, colour changes nothing.
	stripped := strings.NewReplacer(ansiReset, "", ansiRed, "", ansiGreen, "", ansiYellow, "", ansiGrey, "").Replace(coloured.String())
	if diff := cmp.Diff(plain.String(), stripped); diff != "" {
		t.Errorf("coloured output differs beyond colour (-plain +coloured):\n%s", diff)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	r := req
	cases := []struct {
		name string
		d    runner.Decision
		want string
	}{
		{"pass", runner.Decision{Gate: runner.GatePass, Requirements: []runner.RequirementResult{
			r("a", runner.StatusPass, false, false), r("b", runner.StatusSkipped, false, false)}},
			"Gate: pass (1 passed, 1 skipped)"},
		{"needs ack", runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{
			r("a", runner.StatusFail, false, false), r("b", runner.StatusWarn, false, false), r("c", runner.StatusWarn, false, true)}},
			"Gate: needs acknowledgment (0 passed, 1 failed, 1 warning, 1 acknowledged): re-run with --ack a,b to accept"},
		{"blocked", runner.Decision{Gate: runner.GateBlocked, Requirements: []runner.RequirementResult{
			r("lic", runner.StatusFail, true, false), r("b", runner.StatusFail, false, false)}},
			"Gate: blocked (0 passed, 2 failed): strict requirement lic failed and cannot be acknowledged; also needs --ack b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, summary(&tc.d, false))
		})
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                        "0s",
		400 * time.Microsecond:   "<1ms",
		12345 * time.Microsecond: "12ms",
		1234 * time.Millisecond:  "1.2s",
		123 * time.Second:        "2m3s",
	} {
		assert.Equal(t, want, formatDuration(d), d.String())
	}
}

func TestProgressPlainLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := newProgress(&b, 2, false)
	p.event(runner.Event{Type: runner.EventStarted, RequirementID: "a"})
	p.event(runner.Event{Type: runner.EventStarted, RequirementID: "b"})
	p.event(runner.Event{Type: runner.EventFinished, RequirementID: "b", Result: &runner.RequirementResult{Status: runner.StatusFail, Duration: runner.Duration(time.Second)}})
	p.event(runner.Event{Type: runner.EventFinished, RequirementID: "a"})
	p.done()
	assert.Equal(t, "started a\nstarted b\n[1/2] fail b (1s)\n[2/2] finished a\n", b.String())
}

func TestProgressLiveLine(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := newProgress(&b, 2, true)
	p.event(runner.Event{Type: runner.EventStarted, RequirementID: "a"})
	p.event(runner.Event{Type: runner.EventStarted, RequirementID: "b"})
	p.event(runner.Event{Type: runner.EventFinished, RequirementID: "a", Result: &runner.RequirementResult{Status: runner.StatusPass}})
	p.done()
	assert.Equal(t, "\r\x1b[K[0/2] running: a\r\x1b[K[0/2] running: a, b\r\x1b[K[1/2] running: b\r\x1b[K", b.String())
}

// TestWriteTextManyNodes: a fan-out over 1000 nodes stays readable: nodes with the same
// outcome share a line, and the number of lines is bounded.
func TestWriteTextManyNodes(t *testing.T) {
	t.Parallel()
	r := runner.RequirementResult{ID: "license", Status: runner.StatusFail, Message: "error on 13 of 14 nodes"}
	r.Nodes = append(r.Nodes, runner.NodeResult{Node: "real-0", Status: runner.StatusPass})
	for i := range 1000 {
		r.Nodes = append(r.Nodes, runner.NodeResult{Node: fmt.Sprintf("kwok-%03d", i), Status: runner.StatusSkipped,
			Excluded: "taint kwok.x-k8s.io/node=fake:NoSchedule not tolerated"})
	}
	for i := range 3 {
		r.Nodes = append(r.Nodes, runner.NodeResult{Node: fmt.Sprintf("same-%d", i), Status: runner.StatusFail, Message: "File missing"})
	}
	for i := range 10 {
		r.Nodes = append(r.Nodes, runner.NodeResult{Node: fmt.Sprintf("odd-%d", i), Status: runner.StatusFail,
			Error: fmt.Sprintf("pod preflight-%d: ImagePullBackOff", i)})
	}
	r.Nodes = append(r.Nodes, runner.NodeResult{Node: "gone", Status: runner.StatusFail, NotRun: "node deleted during the run", Error: "not run"})
	var b strings.Builder
	require.NoError(t, writeText(&b, &runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{r}}, false, defaultWidth))
	golden(t, "text-render-many-nodes", b.String())
	assert.Less(t, strings.Count(b.String(), "\n"), 20)
}
