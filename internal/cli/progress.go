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
// rewritten in place ("[3/12] running: a, b"), otherwise one plain line per event
// ("started disk-space", then "[1/12] pass disk-space (3ms)" where 1 counts the finished
// requirements), so that logs of CI jobs show what ran. stdout stays clean for the result.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	total    int
	started  int
	finished int
	running  []string
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
	case runner.EventFinished:
		p.finished++
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
		line := fmt.Sprintf("[%d/%d] running: %s", p.finished, p.total, strings.Join(p.running, ", "))
		if r := []rune(line); len(r) > maxLiveLine {
			line = string(r[:maxLiveLine-3]) + "..."
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	}
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
