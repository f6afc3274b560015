package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// maxNamesInMessage bounds how many node names one group of a per-node message lists; the
// decision's Nodes always lists every node.
const maxNamesInMessage = 10

// outcome is the analysis of one output.
type outcome struct {
	out     command.Output
	status  Status
	message string
	err     error // the command's error (or why the node did not run)
	condErr error // the error evaluating the result conditions
	msgErr  error // the error evaluating the matched result's message_expr
}

// aggregate is the analysis of one command result: one output, or one per node.
type aggregate struct {
	status  Status
	message string
	decider *outcome // the output that decided the status; nil when none
	nodes   []NodeResult
	err     error // set when no output decided (nothing in scope)
	cmdErr  bool  // some output could not be produced
	// truncated is set when an output was cut at the output limit.
	truncated bool
	notes     []string
}

func (g *aggregate) fill(r *RequirementResult) {
	r.Status = g.status
	r.Message = g.message
	r.Nodes = g.nodes
	r.setErrors(g.err, nil)
	r.Notes = append(r.Notes, g.notes...)
	if d := g.decider; d != nil {
		code := d.out.StatusCode
		r.StatusCode = &code
		r.Stdout, r.Stderr = d.out.Stdout, d.out.Stderr
		r.setErrors(d.err, d.condErr)
	}
	r.Truncated = g.truncated
}

// statusOf maps an analyzer status to the decision's.
func statusOf(s requirement.Status) Status {
	switch s {
	case requirement.StatusSuccess:
		return StatusPass
	case requirement.StatusWarn:
		return StatusWarn
	default:
		return StatusFail
	}
}

// rank orders statuses from worst (0) to best.
func rank(s Status) int {
	switch s {
	case StatusPass:
		return 2
	case StatusWarn:
		return 1
	default:
		return 0
	}
}

// analyse matches every output of res against the requirement's results and aggregates them.
// Outputs already analysed as their node finished (nodes) are not analysed again.
func (s *state) analyse(ctx context.Context, req *requirement.Requirement, actx *analyzer.Context, res *command.Result, took time.Duration, nodes *nodeProgress) aggregate {
	var g aggregate
	outs := make([]outcome, len(res.Outputs))
	msgErrs := map[string]bool{}
	for i, o := range res.Outputs {
		if oc, ok := nodes.reuse(o); ok {
			outs[i] = oc
		} else {
			outs[i] = analyseOutput(ctx, req, actx, o, took)
		}
		g.cmdErr = g.cmdErr || o.Err != nil || o.NotRun != ""
		g.truncated = g.truncated || o.Truncated
		if e := outs[i].msgErr; e != nil && !msgErrs[e.Error()] {
			// The status stands; the message falls back to the requirement's, and says why.
			msgErrs[e.Error()] = true
			g.notes = append(g.notes, "message not shown: "+e.Error())
		}
	}
	switch {
	case g.truncated && s.replay:
		g.notes = append(g.notes, "the recorded output is incomplete: it was truncated or trimmed when it was recorded")
	case g.truncated:
		g.notes = append(g.notes, fmt.Sprintf("output truncated to %d bytes", s.opts.OutputLimit))
	}
	if len(outs) == 1 && outs[0].out.Node == "" && len(res.Excluded) == 0 {
		g.status, g.message, g.decider = outs[0].status, outs[0].message, &outs[0]
		return g
	}
	g.aggregateNodes(outs, res.Excluded)
	return g
}

func analyseOutput(ctx context.Context, req *requirement.Requirement, actx *analyzer.Context, o command.Output, took time.Duration) outcome {
	oc := outcome{out: o, err: o.Err}
	cmdErr := ""
	if o.Err != nil {
		cmdErr = o.Err.Error()
	}
	if o.NotRun != "" {
		// A node in scope that could not run the command fails: nothing was checked there.
		oc.status, oc.message = StatusFail, "not run: "+o.NotRun
		if oc.err == nil {
			oc.err = errors.New(o.NotRun)
		}
		return oc
	}
	d := o.Duration
	if d == 0 {
		d = took
	}
	in := &analyzer.Input{
		StatusCode: o.StatusCode,
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		Error:      cmdErr,
		Object:     o.Object,
		Node:       o.Node,
		Duration:   d,
		Truncated:  o.Truncated,
	}
	res := req.Analyze(ctx, actx, in)
	oc.status, oc.message, oc.msgErr = statusOf(res.Status), res.Message, res.MessageErr
	if res.Err != nil {
		oc.status = StatusFail
		oc.condErr = res.Err
	}
	if oc.message == "" {
		oc.message = req.Message.Render(in)
	}
	return oc
}

// aggregateNodes takes the worst node as the requirement's status and writes a message that
// names the nodes behind it.
func (g *aggregate) aggregateNodes(outs []outcome, excluded []command.Excluded) {
	for i := range outs {
		if outs[i].out.Node == "" {
			outs[i].out.Node = fmt.Sprintf("output[%d]", i)
		}
	}
	slices.SortStableFunc(outs, func(a, b outcome) int { return strings.Compare(a.out.Node, b.out.Node) })
	for i := range outs {
		o := &outs[i]
		g.nodes = append(g.nodes, nodeResult(o))
		if g.decider == nil || rank(o.status) < rank(g.decider.status) {
			g.decider = o
		}
	}
	for _, e := range excluded {
		g.nodes = append(g.nodes, NodeResult{Node: e.Node, Status: StatusSkipped, Excluded: e.Reason})
	}
	slices.SortStableFunc(g.nodes, func(a, b NodeResult) int { return strings.Compare(a.Node, b.Node) })
	if len(outs) == 0 {
		g.status = StatusFail
		g.err = fmt.Errorf("no node in scope: all %d nodes were excluded", len(excluded))
		if len(excluded) == 0 {
			g.err = errors.New("the command produced no output")
		}
		g.message = g.err.Error()
		g.cmdErr = true
		return
	}
	g.status = g.decider.status
	var worst []outcome
	for _, o := range outs {
		if o.status == g.status {
			worst = append(worst, o)
		}
	}
	groups := groupByMessage(worst)
	if g.status == StatusPass {
		if len(groups) == 1 {
			g.message = fmt.Sprintf("%s (%s)", groups[0].message, plural(len(outs), "node"))
		} else {
			g.message = joinGroups(groups)
		}
		return
	}
	word := "error"
	if g.status == StatusWarn {
		word = "warning"
	}
	head := fmt.Sprintf("%s on %d of %s", word, len(worst), plural(len(outs), "node"))
	if len(groups) == 1 {
		g.message = fmt.Sprintf("%s (%s): %s", head, nameList(groups[0].nodes), groups[0].message)
	} else {
		g.message = head + ": " + joinGroups(groups)
	}
}

type messageGroup struct {
	message string
	nodes   []string
}

// groupByMessage groups outcomes (sorted by node) by message, in order of first node.
func groupByMessage(outs []outcome) []messageGroup {
	var groups []messageGroup
	at := map[string]int{}
	for _, o := range outs {
		i, ok := at[o.message]
		if !ok {
			i = len(groups)
			at[o.message] = i
			groups = append(groups, messageGroup{message: o.message})
		}
		groups[i].nodes = append(groups[i].nodes, o.out.Node)
	}
	return groups
}

func joinGroups(groups []messageGroup) string {
	parts := make([]string, len(groups))
	for i, gr := range groups {
		parts[i] = nameList(gr.nodes) + ": " + gr.message
	}
	return strings.Join(parts, "; ")
}

func nameList(names []string) string {
	if len(names) <= maxNamesInMessage {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNamesInMessage], ", "), len(names)-maxNamesInMessage)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
