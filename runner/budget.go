package runner

import (
	"fmt"
	"strings"
	"sync"
)

// defaultOutputBudget is Options.OutputBudget when it is 0: 64 MiB.
const defaultOutputBudget = 64 << 20

// outputBudget is a run's budget of retained command output (Options.OutputBudget): the
// bytes of stdout and stderr its results hold. A result is charged when the runner keeps it
// (a finished requirement, or the latest attempt of one that retries) and trimmed to what is
// left; an attempt that a later one replaces gives its bytes back. Safe for concurrent use.
type outputBudget struct {
	mu    sync.Mutex
	limit int
	used  int
}

// keep charges r's outputs to the budget in order (its stdout and stderr, then each node's),
// trims what does not fit and returns the bytes charged, which give returns once r is no
// longer kept. A trimmed string is copied, so that the output it was cut from can be freed;
// a trimmed result and its trimmed nodes are marked OutputTrimmed, and r gets a note.
func (b *outputBudget) keep(r *RequirementResult) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	charged, total := 0, 0
	fit := func(s *string) bool {
		n := len(*s)
		total += n
		room := b.limit - b.used
		if n <= room {
			b.used += n
			charged += n
			return true
		}
		*s = strings.Clone(cutUTF8(*s, room))
		b.used += len(*s)
		charged += len(*s)
		return false
	}
	// both charges both outputs (no short cut: a stderr after a trimmed stdout is trimmed too).
	both := func(stdout, stderr *string) bool {
		okOut := fit(stdout)
		okErr := fit(stderr)
		return okOut && okErr
	}
	trimmed := !both(&r.Stdout, &r.Stderr)
	for i := range r.Nodes {
		if n := &r.Nodes[i]; !both(&n.Stdout, &n.Stderr) {
			n.OutputTrimmed, trimmed = true, true
		}
	}
	if trimmed {
		r.OutputTrimmed = true
		r.Notes = append(r.Notes, fmt.Sprintf(
			"output trimmed: the run's output budget of %d bytes (Options.OutputBudget) was used up, so the decision keeps %d of its %d bytes of output; the conditions saw all of it",
			b.limit, charged, total))
	}
	return charged
}

// give returns n bytes that keep charged.
func (b *outputBudget) give(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not end inside a
// UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
