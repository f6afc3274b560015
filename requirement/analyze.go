package requirement

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
)

// Status is the status a result gives a requirement.
type Status string

// The statuses a result may name.
const (
	StatusSuccess Status = "success"
	StatusWarn    Status = "warn"
	StatusError   Status = "error"
)

// Result is one of a requirement's ordered results.
type Result struct {
	Status  Status
	Message Message
	// MessageExpr, when not nil, gives the message instead of Message: CEL (string) over what
	// conditions see (stdout, output, node, vars, ...), evaluated when the result matches.
	MessageExpr *analyzer.Expression
	Condition   *Condition // nil: always matches
}

// Condition is what a result requires of an output. Every property that is set must hold.
type Condition struct {
	StatusCode *int                 // the status code equals this (0 counts as set)
	Error      *bool                // the command could (false) or could not (true) produce a result
	Expr       *analyzer.Expression // a CEL expression that must evaluate to true
}

// Message is a requirement's or a result's message: plain text, or a text whose {{.name}}
// placeholders are filled from Args. Args values may themselves be the classic templates
// {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }} and {{repl Trim .Result }}.
type Message struct {
	ID   string            // optional stable id of the message (classic format)
	Text string            // the text, or the classic default_message
	Args map[string]string // values for the placeholders of Text
}

// Outcome is the analysis of one output.
type Outcome struct {
	Status  Status // the matched result's status, or StatusError
	Message string // the matched result's message, rendered
	Matched int    // index of the matched result, -1 when none matched or evaluation failed
	// Err is set when a condition could not be evaluated (a CEL runtime error, the cost
	// limit). The status is then StatusError: an evaluation error never passes.
	Err error
	// MessageErr is set when the matched result's message_expr could not be evaluated; the
	// status stands and Message is empty (the caller shows the requirement's message).
	MessageErr error
}

// maxSummaryError bounds how much of a command's error a no-match message quotes.
const maxSummaryError = 300

// ErrTruncatedOutput is the error (matched with errors.Is in Outcome.Err) of an output that
// would pass on a judgment its conditions made without seeing all of it: the output was cut
// at its limit (Input.Truncated) and a success was decided by conditions that read it, none
// of which reads `truncated`.
var ErrTruncatedOutput = errors.New("the command's output was cut at the output limit")

// Analyze matches one command output against the requirement's results, under the run's
// variables c: the results are tried in order and the first whose condition matches wins; the
// properties of a condition (status_code, error, expr) are ANDed; a result without a condition
// always matches; when none matches the status is error, with a message naming the
// requirement. An expression that cannot be evaluated gives StatusError and Outcome.Err:
// never a pass.
//
// An output cut at its limit (Input.Truncated) cannot pass on what was cut: when the result
// that matches is a success, and an expression evaluated to reach it (its own, or that of an
// earlier result that did not match) reads the output (stdout, stderr, or output parsed from
// stdout, see analyzer.Expression.Reads), and none of those expressions reads `truncated`, the
// outcome is StatusError with an Outcome.Err wrapping ErrTruncatedOutput. So is
// `!stdout.contains("ERROR")`, and so is a catch-all success after an error result for
// `stdout.contains("ERROR")`: either would pass when "ERROR" came after the cut. A warn or
// error result matches as usual (failing is always safe), and so does a success decided
// without reading the output (status_code, error), or by conditions that read `truncated`
// and so say what a cut output means.
func (req *Requirement) Analyze(ctx context.Context, c *analyzer.Context, in *analyzer.Input) Outcome {
	id, results := req.ID, req.Results
	if in == nil {
		return Outcome{Status: StatusError, Matched: -1,
			Err: fmt.Errorf("requirement %q: no command output to analyse", id)}
	}
	var readers []int // the results whose evaluated expression reads the output
	considered := false
	for i := range results {
		r := &results[i]
		ok, evaluated, err := r.Condition.matches(ctx, c, in)
		if err != nil {
			return Outcome{Status: StatusError, Matched: -1,
				Err: fmt.Errorf("results[%d].condition.expr: %w", i, err)}
		}
		if evaluated {
			x := r.Condition.Expr
			considered = considered || x.Reads("truncated")
			// `output` is cut with stdout unless it comes whole from the command (Object).
			if x.Reads("stdout") || x.Reads("stderr") || (in.Object == nil && x.Reads("output")) {
				readers = append(readers, i)
			}
		}
		if !ok {
			continue
		}
		if !r.Status.valid() {
			// The loader refuses such a spec; a Result built by hand must fail closed too.
			return Outcome{Status: StatusError, Matched: -1,
				Err: fmt.Errorf("results[%d].status: %q is not one of success, warn, error", i, r.Status)}
		}
		if in.Truncated && r.Status == StatusSuccess && len(readers) > 0 && !considered {
			return Outcome{Status: StatusError, Matched: -1, Err: truncatedError(i, readers)}
		}
		if r.MessageExpr != nil {
			msg, err := renderMessageExpr(ctx, r.MessageExpr, c, in)
			if err != nil {
				return Outcome{Status: r.Status, Matched: i, MessageErr: fmt.Errorf("results[%d].message_expr: %w", i, err)}
			}
			return Outcome{Status: r.Status, Message: msg, Matched: i}
		}
		return Outcome{Status: r.Status, Message: r.Message.Render(in), Matched: i}
	}
	return Outcome{Status: StatusError, Matched: -1, Message: noMatch(id, in)}
}

// truncatedError explains the refusal of results[matched]'s success on a cut output.
func truncatedError(matched int, readers []int) error {
	paths := make([]string, len(readers))
	for i, r := range readers {
		paths[i] = fmt.Sprintf("results[%d].condition.expr", r)
	}
	return fmt.Errorf("%w, and results[%d] (success) matched on conditions that read it (%s) and not `truncated`: "+
		"what was cut was not checked; raise the output limit (runner.Options.OutputLimit; preflight run --output-limit) "+
		"or say what a cut output means, with a result before it such as {status: error, condition: {expr: truncated}}",
		ErrTruncatedOutput, matched, strings.Join(paths, ", "))
}

// matches reports whether every property of the condition holds for the output (the cheap
// comparisons first, then the expression) and whether the expression was evaluated. A nil
// condition matches every output the command produced. An output whose command could not
// produce a result (Input.Error set) matches only a condition that says `error: true`: a
// status code or a catch-all written for answers must never turn a failure to run into a
// pass (fail closed).
func (cond *Condition) matches(ctx context.Context, c *analyzer.Context, in *analyzer.Input) (ok, evaluated bool, err error) {
	if in.Error != "" && (cond == nil || cond.Error == nil || !*cond.Error) {
		return false, false, nil
	}
	if cond == nil {
		return true, false, nil
	}
	if cond.StatusCode != nil && *cond.StatusCode != in.StatusCode {
		return false, false, nil
	}
	if cond.Error != nil && *cond.Error != (in.Error != "") {
		return false, false, nil
	}
	if cond.Expr != nil {
		ok, err := cond.Expr.Eval(ctx, c, in)
		return ok, true, err
	}
	return true, false, nil
}

// renderMessageExpr evaluates a message_expr: a string, cut at maxMessageBytes.
func renderMessageExpr(ctx context.Context, e *analyzer.Expression, c *analyzer.Context, in *analyzer.Input) (string, error) {
	v, err := e.Value(ctx, c, in)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("the value is not a string")
	}
	return truncate(s, maxMessageBytes), nil
}

func (s Status) valid() bool {
	return s == StatusSuccess || s == StatusWarn || s == StatusError
}

// noMatch is the message of an output no result matched.
func noMatch(id string, in *analyzer.Input) string {
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
