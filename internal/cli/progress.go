package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/preflightkit/preflight/runner"
)

// progress writes the runner's events to stderr: on a terminal one live line that is
// rewritten in place ("[3/12] running: a (412/1000 nodes), b"), otherwise one plain line per
// event ("started disk-space", then "[1/12] pass disk-space (3ms)" where 1 counts the
// finished requirements), so that logs of CI jobs show what ran. Per-node commands add, in
// plain mode, a line for each node that does not pass and a count of the nodes done at every
// tenth of them. stdout stays clean for the result.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	total    int
	started  int
	finished int
	running  []string
	nodes    map[string]*nodeCount // by requirement id, for per-node commands
	attempts map[string]int        // attempt lines written, by requirement id
	// panic is the first panic of event (a stderr that panics): it is called from the
	// runner's goroutines, where a panic would crash the process.
	panic *panicError
}

func newProgress(w io.Writer, total int, live bool) *progress {
	return &progress{w: w, total: total, live: live}
}

// event handles one runner event.
func (p *progress) event(e runner.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.panic != nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			p.panic = recovered(r)
		}
	}()
	id := safeText(e.RequirementID, false)
	switch e.Type {
	case runner.EventStarted:
		p.started++
		p.running = append(p.running, id)
		if !p.live {
			fmt.Fprintf(p.w, "started %s\n", id)
		}
	case runner.EventNode:
		if e.Node == nil {
			return
		}
		n := p.nodeCount(id, e)
		if p.live {
			break
		}
		if e.Node.Status != runner.StatusPass {
			msg := ""
			if e.Node.Message != "" {
				msg = ": " + oneLine(safeText(e.Node.Message, false))
			}
			fmt.Fprintf(p.w, "%s: node %s %s%s\n", id, safeText(e.Node.Node, false), safeText(string(e.Node.Status), false), msg)
		}
		if n.milestone() {
			fmt.Fprintf(p.w, "%s: %s\n", id, n)
		}
		return
	case runner.EventAttempt:
		line, ok := p.attemptLine(id, e)
		if !ok {
			return
		}
		if !p.live {
			fmt.Fprintln(p.w, line)
			return
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", line) // above the live line, which is drawn again below
	case runner.EventFinished:
		p.finished++
		delete(p.nodes, id)
		delete(p.attempts, id)
		for i, r := range p.running {
			if r == id {
				p.running = append(p.running[:i], p.running[i+1:]...)
				break
			}
		}
		if !p.live {
			status, dur := "finished", ""
			if e.Result != nil {
				status = safeText(string(e.Result.Status), false)
				dur = " (" + formatDuration(time.Duration(e.Result.Duration)) + ")"
			}
			fmt.Fprintf(p.w, "[%d/%d] %s %s%s\n", p.finished, p.total, status, id, dur)
		}
	default:
		return
	}
	if p.live {
		running := make([]string, len(p.running))
		for i, id := range p.running {
			running[i] = id
			if n := p.nodes[id]; n != nil && n.total > 0 {
				running[i] += fmt.Sprintf(" (%d/%d nodes)", n.done, n.total)
			} else if n != nil {
				running[i] += fmt.Sprintf(" (%d nodes done)", n.done)
			}
		}
		line := fmt.Sprintf("[%d/%d] running: %s", p.finished, p.total, strings.Join(running, ", "))
		if r := []rune(line); len(r) > maxLiveLine {
			line = string(r[:maxLiveLine-3]) + "..."
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	}
}

// Attempt lines of a retried requirement are bounded: the first attemptsShownFirst
// attempts, then every attemptsShownEvery-th, and the last one (the event says no retry
// follows), at most maxAttemptLines lines per requirement (then one line says the others are
// not shown, and the last attempt is still shown).
const (
	attemptsShownFirst = 3
	attemptsShownEvery = 10
	maxAttemptLines    = 20
	maxAttemptReason   = 100 // runes of the reason on an attempt line
)

// attemptLine returns the line for an attempt of requirement id ("  db-ready: attempt 3
// failed (status 1: connection refused), retrying in 4s") and whether to write it.
func (p *progress) attemptLine(id string, e runner.Event) (string, bool) {
	last := e.RetryIn <= 0
	if e.Attempt > attemptsShownFirst && e.Attempt%attemptsShownEvery != 0 && !last {
		return "", false
	}
	if p.attempts == nil {
		p.attempts = map[string]int{}
	}
	shown := p.attempts[id]
	p.attempts[id]++
	switch {
	case shown == maxAttemptLines && !last:
		return fmt.Sprintf("  %s: further attempts are not shown until the last (-o json has them all)", id), true
	case shown > maxAttemptLines && !last:
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %s: attempt %d", id, e.Attempt)
	if r := e.Result; r != nil {
		b.WriteString(" " + statusVerb(r.Status))
		var detail []string
		if r.StatusCode != nil {
			detail = append(detail, fmt.Sprintf("status %d", *r.StatusCode))
		}
		reason := r.Error
		if reason == "" {
			reason = r.Message
		}
		if reason = oneLine(cliWords(reason)); reason != "" {
			if rs := []rune(reason); len(rs) > maxAttemptReason {
				reason = string(rs[:maxAttemptReason-3]) + "..."
			}
			detail = append(detail, reason)
		}
		if len(detail) > 0 {
			b.WriteString(" (" + strings.Join(detail, ": ") + ")")
		}
	}
	if !last {
		b.WriteString(", retrying in " + formatDuration(time.Duration(e.RetryIn)))
	}
	return b.String(), true
}

// statusVerb words an attempt's status: "passed", "warned", "failed".
func statusVerb(s runner.Status) string {
	switch s {
	case runner.StatusPass:
		return "passed"
	case runner.StatusWarn:
		return "warned"
	case runner.StatusFail:
		return "failed"
	}
	return safeText(string(s), false)
}

// nodeCount counts the nodes of one attempt of a per-node requirement.
type nodeCount struct {
	attempt, done, total, failing int
}

// nodeCount records e's node for requirement id; a new attempt starts the count over.
func (p *progress) nodeCount(id string, e runner.Event) *nodeCount {
	if p.nodes == nil {
		p.nodes = map[string]*nodeCount{}
	}
	n := p.nodes[id]
	if n == nil || n.attempt != e.Attempt {
		n = &nodeCount{attempt: e.Attempt}
		p.nodes[id] = n
	}
	n.done++
	n.total = e.Nodes
	if e.Node.Status != runner.StatusPass {
		n.failing++
	}
	return n
}

// unknownTotalStep is how often the plain count is written when the total is not known.
const unknownTotalStep = 100

// milestone reports whether the plain count is due: at every tenth of the nodes, and at the
// last one.
func (n *nodeCount) milestone() bool {
	if n.total <= 0 {
		return n.done%unknownTotalStep == 0
	}
	step := max(1, n.total/10)
	return n.done%step == 0 || n.done == n.total
}

// String reads "412 of 1000 nodes done (3 not passing)", the attempt first when retried.
func (n *nodeCount) String() string {
	s := fmt.Sprintf("%d of %d nodes done", n.done, n.total)
	if n.total <= 0 {
		s = fmt.Sprintf("%d nodes done", n.done)
	}
	if n.failing > 0 {
		s += fmt.Sprintf(" (%d not passing)", n.failing)
	}
	if n.attempt > 1 {
		s = fmt.Sprintf("attempt %d: %s", n.attempt, s)
	}
	return s
}

// maxLiveLine caps the live line so that it does not wrap on an ordinary terminal.
const maxLiveLine = 100

// panicked returns the panic an event raised, if any.
func (p *progress) panicked() *panicError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.panic
}

// done clears the live line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live && (p.started > 0 || p.finished > 0) {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
