package analyzer

import (
	"context"
	"fmt"
	"strings"
)

// maxSummaryError bounds how much of a command's error a no-match message quotes.
const maxSummaryError = 300

func analyze(ctx context.Context, id string, results []Result, c *Context, in *Input) Outcome {
	if in == nil {
		return Outcome{Status: StatusError, Matched: -1,
			Err: fmt.Errorf("requirement %q: no command output to analyse", id)}
	}
	act := &activation{c: c, in: in}
	for i := range results {
		r := &results[i]
		ok, err := r.Condition.matches(ctx, act)
		if err != nil {
			return Outcome{Status: StatusError, Matched: -1,
				Err: fmt.Errorf("results[%d].condition.expr: %w", i, err)}
		}
		if !ok {
			continue
		}
		if !r.Status.valid() {
			// The loader refuses such a spec; a Result built by hand must fail closed too.
			return Outcome{Status: StatusError, Matched: -1,
				Err: fmt.Errorf("results[%d].status: %q is not one of success, warn, error", i, r.Status)}
		}
		return Outcome{Status: r.Status, Message: r.Message.Render(in), Matched: i}
	}
	return Outcome{Status: StatusError, Matched: -1, Message: noMatch(id, in)}
}

// matches reports whether every property of the condition holds for the output: the cheap
// comparisons first, then the expression. A nil condition matches every output the command
// produced. An output whose command could not produce a result (Input.Error set) matches
// only a condition that says `error: true`: a status code or a catch-all written for answers
// must never turn a failure to run into a pass (fail closed).
func (cond *Condition) matches(ctx context.Context, act *activation) (bool, error) {
	if act.in.Error != "" && (cond == nil || cond.Error == nil || !*cond.Error) {
		return false, nil
	}
	if cond == nil {
		return true, nil
	}
	if cond.StatusCode != nil && *cond.StatusCode != act.in.StatusCode {
		return false, nil
	}
	if cond.Error != nil && *cond.Error != (act.in.Error != "") {
		return false, nil
	}
	if cond.Expr != nil {
		return cond.Expr.evalIn(ctx, act)
	}
	return true, nil
}

func (s Status) valid() bool {
	return s == StatusSuccess || s == StatusWarn || s == StatusError
}

// noMatch is the message of an output no result matched.
func noMatch(id string, in *Input) string {
	if in.Error != "" {
		where := ""
		if in.Node != "" {
			where = " on node " + in.Node
		}
		return fmt.Sprintf("could not check requirement %q%s: %s", id, where, truncate(in.Error, maxSummaryError))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no result of requirement %q matched (status code %d", id, in.StatusCode)
	if in.Node != "" {
		fmt.Fprintf(&b, ", node %s", in.Node)
	}
	b.WriteString("): add a result for this case, or a last result without a condition")
	return b.String()
}

// truncate cuts s to at most n bytes at a rune boundary, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	mk := mark
	if n < len(mark) {
		mk = ""
	}
	cut := n - len(mk)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mk
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
