package cli

import (
	"fmt"
	"strings"
	"testing"

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
	ev(runner.EventAttempt, "license", func(e *runner.Event) { e.Attempt = 1 })
	for i := range 3 {
		node("license", 2, 3, fmt.Sprintf("worker-%02d", i), runner.StatusPass, "License found")
	}
	finished("license", runner.StatusPass)
	ev(runner.EventStarted, "custom", nil)
	for i := range 101 {
		node("custom", 1, 0, fmt.Sprintf("n%d", i), runner.StatusPass, "")
	}
	finished("custom", runner.StatusPass)

	for _, live := range []bool{false, true} {
		var b strings.Builder
		p := newProgress(&b, 3, live)
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
