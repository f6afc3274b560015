package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/runner"
)

// outputFormat is the value of -o.
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

var _ pflag.Value = (*outputFormat)(nil)

func (o *outputFormat) String() string { return string(*o) }

// Set accepts text or json.
func (o *outputFormat) Set(s string) error {
	switch outputFormat(s) {
	case outputText, outputJSON:
		*o = outputFormat(s)
		return nil
	}
	return fmt.Errorf("must be text or json, not %q", s)
}

func (o *outputFormat) Type() string { return "format" }

// ANSI colours, all of the same byte length so that tabwriter keeps columns aligned.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiGrey   = "\x1b[90m"
)

// statusWord is the fixed-width word text output shows for a status.
func statusWord(s runner.Status) (word, colour string) {
	switch s {
	case runner.StatusPass:
		return "PASS", ansiGreen
	case runner.StatusWarn:
		return "WARN", ansiYellow
	case runner.StatusFail:
		return "FAIL", ansiRed
	case runner.StatusSkipped:
		return "SKIP", ansiGrey
	case runner.StatusNotRun:
		return "NOT RUN", ansiRed
	}
	return safeText(strings.ToUpper(string(s)), false), ansiRed
}

func paint(s, colour string, on bool) string {
	if !on || colour == "" {
		return s
	}
	return colour + s + ansiReset
}

// writeJSON writes v as indented JSON (C1 controls in strings are written as \u escapes,
// which decode to the same text).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(escapeJSONControls(b), '\n'))
	return err
}

// requirementsField is how json.MarshalIndent writes a Decision's requirements field when
// it is nil, at the top level. Inside a JSON string a newline is escaped, and the fields of
// nested objects are indented further, so it occurs once: where the list goes.
const requirementsField = "\n  \"requirements\": null"

// writeDecisionJSON writes d as writeJSON does, byte for byte, but encodes its requirements
// one at a time straight to w: the JSON of the whole decision is never held in memory, only
// that of one requirement (whose kept output the run's output budget bounds).
func writeDecisionJSON(w io.Writer, d *runner.Decision) error {
	head := *d
	head.Requirements = nil
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return err
	}
	at := bytes.Index(b, []byte(requirementsField))
	if at < 0 || bytes.Count(b, []byte(requirementsField)) != 1 {
		return fmt.Errorf("encoding the decision: no single requirements field in %.200q", b)
	}
	before, after := b[:at+len(requirementsField)-len("null")], b[at+len(requirementsField):]
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(escapeJSONControls(before))
	switch {
	case d.Requirements == nil:
		bw.WriteString("null")
	case len(d.Requirements) == 0:
		bw.WriteString("[]")
	default:
		bw.WriteString("[\n")
		for i := range d.Requirements {
			r, err := json.MarshalIndent(&d.Requirements[i], "    ", "  ")
			if err != nil {
				return err
			}
			bw.WriteString("    ")
			bw.Write(escapeJSONControls(r))
			if i < len(d.Requirements)-1 {
				bw.WriteByte(',')
			}
			if err := bw.WriteByte('\n'); err != nil {
				return err // the writer failed (a closed pipe): encoding the rest is no use
			}
		}
		bw.WriteString("  ]")
	}
	bw.Write(escapeJSONControls(after))
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeText writes one row per requirement in spec order (status, id, message, duration),
// the details of what failed indented below it, and a summary line with the gate. Rows and
// details are wrapped at width columns (terminalWidth): a long message continues under its
// own column instead of breaking the table.
func writeText(w io.Writer, d *runner.Decision, colour bool, width int) error {
	type row struct {
		word, colour, id, msg, dur string
		details                    []string
	}
	rows := make([]row, 0, len(d.Requirements))
	wordWidth, idWidth, msgWidth := 4, 0, 0
	for i := range d.Requirements {
		r := &d.Requirements[i]
		word, c := statusWord(r.Status)
		msg := r.Message
		if head := nodesHead(r); head != "" {
			msg = head // the node lines below say which nodes, and why
		}
		if msg == "" && r.Error != "" {
			msg = r.Error
		}
		var tags []string
		if r.Strict && (r.Status == runner.StatusFail || r.Status == runner.StatusNotRun) {
			tags = append(tags, "[strict]")
		}
		if r.Acknowledged {
			tags = append(tags, "[acknowledged]")
		}
		msg = oneLine(strings.TrimSpace(msg + " " + strings.Join(tags, " ")))
		dur := ""
		if r.Status != runner.StatusSkipped {
			dur = formatDuration(time.Duration(r.Duration))
		}
		id := safeText(r.ID, false)
		rows = append(rows, row{word, c, id, msg, dur, detailLines(r, colour)})
		idWidth = max(idWidth, utf8.RuneCountInString(id))
		msgWidth = max(msgWidth, utf8.RuneCountInString(msg))
		wordWidth = max(wordWidth, len(word))
	}
	// The message column takes what the width leaves; a long message wraps within it.
	msgAt := wordWidth + 2 + idWidth + 2
	msgCol := max(width-msgAt-2-durationColumn, minMessageColumn)
	msgWidth = min(msgWidth, msgCol)
	var b strings.Builder
	for _, r := range rows {
		lines := wrap(r.msg, msgCol)
		line := paint(pad(r.word, wordWidth), r.colour, colour) + "  " + pad(r.id, idWidth) + "  " + pad(lines[0], msgWidth) + "  " + r.dur
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
		for _, l := range lines[1:] {
			b.WriteString(strings.Repeat(" ", msgAt) + l + "\n")
		}
		for _, dl := range r.details {
			// A detail continues two columns further in than it starts.
			for i, l := range wrap(dl, max(width-detailIndent-2, minMessageColumn)) {
				if i == 0 {
					b.WriteString(strings.Repeat(" ", detailIndent) + l + "\n")
				} else {
					b.WriteString(strings.Repeat(" ", detailIndent+2) + l + "\n")
				}
			}
		}
	}
	if len(rows) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(summary(d, colour))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

const (
	// defaultWidth is the width text output is wrapped at when stdout is not a terminal.
	defaultWidth = 100
	// minMessageColumn is the narrowest the message column gets, however narrow the
	// terminal or long the ids: lines then exceed the width rather than wrap a word a line.
	minMessageColumn = 30
	// detailIndent is how far the detail lines under a requirement start.
	detailIndent = 6
	// durationColumn is the room kept for the duration: formatDuration's longest common
	// output (1m30s, 12.5s, 999ms). It is fixed so that wrapping never depends on timing.
	durationColumn = 6
)

// wrap breaks s (one line) into lines of at most width runes at spaces; a word longer than
// width (a URL) is cut. It returns at least one line.
func wrap(s string, width int) []string {
	if utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		rw := []rune(word)
		if len(cur) > 0 && len(cur)+1+len(rw) > width {
			lines = append(lines, string(cur))
			cur = cur[:0]
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, rw...)
		for len(cur) > width {
			lines = append(lines, string(cur[:width]))
			cur = append(cur[:0], cur[width:]...)
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// nodesHead is the row message of a per-node requirement that did not pass, such as "error
// on 2 of 5 nodes": the runner's message goes on to name the nodes and their messages, which
// the node lines show.
func nodesHead(r *runner.RequirementResult) string {
	if len(r.Nodes) == 0 || r.Status == runner.StatusPass || r.Status == runner.StatusSkipped {
		return ""
	}
	inScope, worst := 0, 0
	for _, n := range r.Nodes {
		if n.Excluded != "" {
			continue
		}
		inScope++
		if n.Status == r.Status {
			worst++
		}
	}
	if inScope == 0 {
		return ""
	}
	word := "error"
	if r.Status == runner.StatusWarn {
		word = "warning"
	}
	noun := "nodes"
	if inScope == 1 {
		noun = "node"
	}
	return fmt.Sprintf("%s on %d of %d %s", word, worst, inScope, noun)
}

// pad right-pads s with spaces to width runes.
func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// detailLines are the indented lines under a requirement that did not pass: why it could not
// be evaluated, and which nodes failed, did not run or were excluded.
func detailLines(r *runner.RequirementResult, colour bool) []string {
	var out []string
	// Each fact once: a per-node requirement's errors are a node's, which its node line shows.
	msg := r.Message
	if head := nodesHead(r); head != "" {
		msg = head
	}
	if r.Error != "" && msg != "" && !strings.Contains(msg, r.Error) && r.Status != runner.StatusPass &&
		!slices.ContainsFunc(r.Nodes, func(n runner.NodeResult) bool {
			return n.Error == r.Error || n.NotRun == r.Error || strings.Contains(n.Message, r.Error)
		}) {
		out = append(out, "error: "+oneLine(r.Error))
	}
	if r.ConditionError != "" && !slices.ContainsFunc(r.Nodes, func(n runner.NodeResult) bool { return n.ConditionError == r.ConditionError }) {
		out = append(out, "condition error: "+oneLine(r.ConditionError))
	}
	if len(r.Nodes) > 0 {
		out = append(out, nodeLines(r.Nodes, colour)...)
	}
	if r.Privileged {
		out = append(out, "note: ran a privileged pod (or one with host namespaces or hostPath volumes)")
	}
	if r.SecretValues {
		out = append(out, "note: its conditions saw the values of Secrets (include_secret_values); they are not printed")
	}
	if r.Status != runner.StatusSkipped { // a SKIP says enough; its note only repeats the when
		for _, n := range r.Notes {
			out = append(out, "note: "+oneLine(n))
		}
	}
	return out
}

// Bounds of the per-node lines of one requirement: nodes with the same outcome and message
// share a line that names a few of them, and each outcome (FAIL, NOT RUN, ...) shows at most
// maxNodeGroups lines; -o json lists every node.
const (
	maxNodeGroups    = 8
	maxNamesPerGroup = 5
)

// nodeGroup is the nodes that share one outcome line.
type nodeGroup struct {
	word, colour, text string
	nodes              []string
}

// nodeLines lists the nodes of a per-node requirement that did not pass, grouped by outcome
// and message (1000 nodes excluded by the same taint make one line), then a tally.
func nodeLines(nodes []runner.NodeResult, colour bool) []string {
	var passed, failed, notRun, excluded int
	var groups []*nodeGroup
	index := map[string]*nodeGroup{}
	add := func(word, c, text, node string) {
		key := word + "\x00" + text
		g, ok := index[key]
		if !ok {
			g = &nodeGroup{word: word, colour: c, text: text}
			index[key] = g
			groups = append(groups, g)
		}
		g.nodes = append(g.nodes, node)
	}
	for _, n := range nodes {
		switch {
		case n.Excluded != "":
			excluded++
			add("EXCLUDED", ansiGrey, oneLine(n.Excluded), safeText(n.Node, false))
		case n.NotRun != "":
			notRun++
			add("NOT RUN", ansiRed, oneLine(n.NotRun), safeText(n.Node, false))
		case n.Status == runner.StatusPass:
			passed++
		default:
			failed++
			word, c := statusWord(n.Status)
			msg, nerr := n.Message, nodeError(n)
			switch {
			case msg == "":
				msg = nerr
			case nerr != "" && !strings.Contains(msg, nerr) && !strings.Contains(msg, n.Error):
				msg += " (" + nerr + ")"
			}
			if n.ConditionError != "" {
				msg += " (condition error: " + n.ConditionError + ")"
			}
			add(word, c, oneLine(msg), safeText(n.Node, false))
		}
	}
	// The worst first: failures, nodes that could not run, warnings, then out of scope.
	rank := map[string]int{"FAIL": 0, "NOT RUN": 1, "WARN": 2, "EXCLUDED": 4}
	slices.SortStableFunc(groups, func(a, b *nodeGroup) int {
		ra, ok := rank[a.word]
		if !ok {
			ra = 3
		}
		rb, ok := rank[b.word]
		if !ok {
			rb = 3
		}
		return ra - rb
	})
	var out []string
	// groups are sorted by kind: show at most maxNodeGroups lines of each, and say how many
	// nodes of that kind were left out right after them.
	for i := 0; i < len(groups); {
		j := i
		hidden := 0
		for ; j < len(groups) && groups[j].word == groups[i].word; j++ {
			g := groups[j]
			if j-i >= maxNodeGroups {
				hidden += len(g.nodes)
				continue
			}
			out = append(out, fmt.Sprintf("%s %s: %s", paint(g.word, g.colour, colour), nodeNames(g.nodes), g.text))
		}
		if hidden > 0 {
			noun := "nodes"
			if hidden == 1 {
				noun = "node"
			}
			out = append(out, fmt.Sprintf("... and %d more %s %s with other messages (-o json lists every node)", hidden, groups[i].word, noun))
		}
		i = j
	}
	return append(out, fmt.Sprintf("nodes: %d passed, %d failed, %d not run, %d excluded", passed, failed, notRun, excluded))
}

// nodeError is a node's error as its line shows it: a check pod's failure without the pod's
// name (a generated name, deleted with the run) and the node's (the line names it), so that
// nodes that failed alike share a line.
func nodeError(n runner.NodeResult) string {
	var pe *command.PodError
	if errors.As(n.Err, &pe) && pe.Reason != "" {
		if pe.Message == "" {
			return pe.Reason
		}
		return pe.Reason + ": " + pe.Message
	}
	return n.Error
}

// nodeNames is "node-a" for one node, "3 nodes (a, b, c)" for a few, and names the first
// maxNamesPerGroup of many.
func nodeNames(nodes []string) string {
	if len(nodes) == 1 {
		return nodes[0]
	}
	shown := nodes[:min(len(nodes), maxNamesPerGroup)]
	names := strings.Join(shown, ", ")
	if rest := len(nodes) - len(shown); rest > 0 {
		names += fmt.Sprintf(", and %d more", rest)
	}
	return fmt.Sprintf("%d nodes (%s)", len(nodes), names)
}

// summary is the gate line.
func summary(d *runner.Decision, colour bool) string {
	id := func(r runner.RequirementResult) string { return safeText(r.ID, false) }
	var passed, skipped, acked, failed, warned int
	var strict, ackable, ackWarn []string // in spec order
	for _, r := range d.Requirements {
		switch {
		case r.Acknowledged:
			acked++
		case r.Status == runner.StatusPass:
			passed++
		case r.Status == runner.StatusSkipped:
			skipped++
		case r.Status == runner.StatusWarn && r.Strict:
			warned++
			ackWarn = append(ackWarn, id(r))
		case r.Status == runner.StatusWarn:
			warned++
			ackable = append(ackable, id(r))
		case r.Strict:
			failed++
			strict = append(strict, id(r))
		default:
			failed++
			ackable = append(ackable, id(r))
		}
	}
	counts := []string{fmt.Sprintf("%d passed", passed)}
	if failed > 0 {
		counts = append(counts, fmt.Sprintf("%d failed", failed))
	}
	if warned > 0 {
		counts = append(counts, plural(warned, "warning", "warnings"))
	}
	if skipped > 0 {
		counts = append(counts, fmt.Sprintf("%d skipped", skipped))
	}
	if acked > 0 {
		counts = append(counts, fmt.Sprintf("%d acknowledged", acked))
	}
	tally := "(" + strings.Join(counts, ", ") + ")"
	switch d.Gate {
	case runner.GateBlocked:
		s := fmt.Sprintf("%s %s", paint("Gate: blocked", ansiRed, colour), tally)
		var why []string
		if len(strict) > 0 {
			why = append(why, "strict requirement "+strings.Join(strict, ", ")+" failed and cannot be acknowledged")
		}
		if d.Error != "" {
			why = append(why, "the run did not finish ("+oneLine(d.Error)+")")
		}
		if len(why) > 0 {
			s += ": " + strings.Join(why, "; ")
		}
		if hint := ackHint(ackable, ackWarn); hint != "" {
			s += "; also needs " + hint
		}
		return s
	case runner.GateNeedsAck:
		return fmt.Sprintf("%s %s: re-run with %s to accept", paint("Gate: needs acknowledgment", ansiYellow, colour), tally, ackHint(ackable, ackWarn))
	case runner.GatePass:
		return fmt.Sprintf("%s %s", paint("Gate: pass", ansiGreen, colour), tally)
	}
	return fmt.Sprintf("Gate: %s %s", safeText(string(d.Gate), false), tally)
}

// ackHint names the flags that would accept what is left: --ack for non-strict failures and
// warnings, --ack-warning for the warnings of strict requirements.
func ackHint(ackable, ackWarn []string) string {
	var flags []string
	if len(ackable) > 0 {
		flags = append(flags, "--ack "+strings.Join(ackable, ","))
	}
	if len(ackWarn) > 0 {
		flags = append(flags, "--ack-warning "+strings.Join(ackWarn, ","))
	}
	return strings.Join(flags, " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// oneLine joins the lines of s so that one requirement stays one line, and shows the
// control characters left escaped (safeText).
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n\t") {
		s = strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)), " ")
	}
	return safeText(s, false)
}

// formatDuration rounds d for reading: 0s, 12ms, 1.2s, 2m3s.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
