package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/preflightkit/preflight/runner"
)

// TestProgressGolden feeds the progress writer a run with a per-node requirement (25 nodes,
// some failing, then a retry), a requirement without nodes and one whose command does not
// say how many nodes it has, and compares the plain and the live output with golden files.
func TestProgressGolden(t *testing.T) {
	var events []runner.Event
	ev := func(typ runner.EventType, id string, f func(*runner.Event)) {
		e := runner.Event{Type: typ, RequirementID: id}
		if f != nil {
			f(&e)
		}
		events = append(events, e)
	}
	node := func(id string, attempt, total int, name string, st runner.Status, msg string) {
		ev(runner.EventNode, id, func(e *runner.Event) {
			e.Attempt, e.Nodes = attempt, total
			e.Node = &runner.NodeResult{Node: name, Status: st, Message: msg}
		})
	}
	finished := func(id string, st runner.Status) {
		ev(runner.EventFinished, id, func(e *runner.Event) { e.Result = &runner.RequirementResult{ID: id, Status: st} })
	}
	ev(runner.EventStarted, "license", nil)
	ev(runner.EventStarted, "disk", nil)
	for i := range 25 {
		st, msg := runner.StatusPass, "License found"
		switch i {
		case 4:
			st, msg = runner.StatusFail, "License missing"
		case 17:
			st, msg = runner.StatusFail, "not run: node is NotReady"
		case 20:
			st, msg = runner.StatusWarn, "License expires in 3 days"
		}
		node("license", 1, 25, fmt.Sprintf("worker-%02d", i), st, msg)
		if i == 12 {
			finished("disk", runner.StatusPass)
		}
	}
	ev(runner.EventAttempt, "license", func(e *runner.Event) {
		e.Attempt, e.RetryIn = 1, runner.Duration(5*time.Second)
		e.Result = &runner.RequirementResult{ID: "license", Status: runner.StatusFail, Message: "License missing on worker-04; not run on worker-17"}
	})
	for i := range 3 {
		node("license", 2, 3, fmt.Sprintf("worker-%02d", i), runner.StatusPass, "License found")
	}
	finished("license", runner.StatusPass)
	ev(runner.EventStarted, "custom", nil)
	for i := range 101 {
		node("custom", 1, 0, fmt.Sprintf("n%d", i), runner.StatusPass, "")
	}
	finished("custom", runner.StatusPass)

	// A retried requirement: attempt lines are bounded (the first three, every tenth, the
	// last), with the status code and a short reason.
	ev(runner.EventStarted, "db-ready", nil)
	code := 1
	for i := 1; i <= 31; i++ {
		ev(runner.EventAttempt, "db-ready", func(e *runner.Event) {
			e.Attempt = i
			r := &runner.RequirementResult{ID: "db-ready", Status: runner.StatusFail, StatusCode: &code, Message: "The database is not ready", Error: "connection refused"}
			switch {
			case i == 2:
				r.Error = "dial tcp 10.0.0.7:5432: " + strings.Repeat("a very long reason ", 10) + "\nsecond line"
			case i == 31:
				zero := 0
				r.Status, r.StatusCode, r.Error, r.Message = runner.StatusPass, &zero, "", "The database accepts connections"
			}
			e.Result = r
			if i < 31 {
				e.RetryIn = runner.Duration(4 * time.Second)
			}
		})
	}
	finished("db-ready", runner.StatusPass)

	for _, live := range []bool{false, true} {
		var b strings.Builder
		p := newProgress(&b, 4, live)
		for _, e := range events {
			p.event(e)
		}
		p.done()
		name := "progress-plain"
		got := b.String()
		if live {
			name = "progress-live"
			got = strings.ReplaceAll(got, "\r\x1b[K", "\n<clear>")
		}
		golden(t, name, got)
	}
}

// However many attempts a requirement makes, its attempt lines are bounded, and the last one
// is shown.
func TestProgressAttemptLinesBounded(t *testing.T) {
	for _, live := range []bool{false, true} {
		var b strings.Builder
		p := newProgress(&b, 1, live)
		p.event(runner.Event{Type: runner.EventStarted, RequirementID: "db"})
		const n = 5000
		for i := 1; i <= n; i++ {
			e := runner.Event{Type: runner.EventAttempt, RequirementID: "db", Attempt: i,
				Result: &runner.RequirementResult{Status: runner.StatusFail, Error: "connection refused"}}
			if i < n {
				e.RetryIn = runner.Duration(time.Second)
			}
			p.event(e)
		}
		out := b.String()
		lines := strings.Count(out, "  db: attempt ")
		assert.Equal(t, maxAttemptLines+1, lines, "live=%v", live)
		assert.Contains(t, out, "  db: further attempts are not shown until the last (-o json has them all)")
		assert.Contains(t, out, fmt.Sprintf("  db: attempt %d failed (connection refused)\n", n))
		assert.Contains(t, out, "  db: attempt 170 failed (connection refused), retrying in 1s\n")
		assert.NotContains(t, out, "  db: attempt 180 ")
	}
}
