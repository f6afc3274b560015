package runner

import (
	"context"
	"sync"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// nodeProgress turns one attempt's per-node outputs into EventNode events as the command
// reports them (command.Env.OnNodeScope and OnNodeDone), analysing each output right then.
// The analyses are kept, so that the attempt's aggregate reuses them instead of evaluating
// the same conditions twice (which would spend the run's CEL budget twice).
type nodeProgress struct {
	s       *state
	ctx     context.Context
	req     *requirement.Requirement
	actx    *analyzer.Context
	attempt int

	mu     sync.Mutex
	closed bool // the command returned: later calls are ignored
	total  int
	seen   map[string]outcome // by node; reused by analyse when the final output is the same
	twice  map[string]bool    // nodes reported more than once: never reused
}

func (s *state) watchNodes(ctx context.Context, req *requirement.Requirement, actx *analyzer.Context, attempt int) *nodeProgress {
	return &nodeProgress{s: s, ctx: ctx, req: req, actx: actx, attempt: attempt,
		seen: map[string]outcome{}, twice: map[string]bool{}}
}

// scope is command.Env.OnNodeScope.
func (p *nodeProgress) scope(nodes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && nodes > 0 {
		p.total = nodes
	}
}

// done is command.Env.OnNodeDone: it analyses o, emits the node's result and returns its
// status (what a rolling step stops on).
func (p *nodeProgress) done(o command.Output) string {
	oc := analyseOutput(p.ctx, p.req, p.actx, o, 0) // outside the lock: nodes analyse in parallel
	if o.Node == "" {
		return statusName(oc.status)
	}
	nr := nodeResult(&oc)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return statusName(oc.status)
	}
	if _, ok := p.seen[o.Node]; ok {
		p.twice[o.Node] = true
	}
	p.seen[o.Node] = oc
	p.s.emit(Event{Type: EventNode, RequirementID: p.req.ID, Attempt: p.attempt, Node: &nr, Nodes: p.total})
	return statusName(oc.status)
}

// statusName maps a decision status back to the status of the spec's results, as
// command.Env.OnNodeDone returns it.
func statusName(s Status) string {
	switch s {
	case StatusPass:
		return string(requirement.StatusSuccess)
	case StatusWarn:
		return string(requirement.StatusWarn)
	default:
		return string(requirement.StatusError)
	}
}

// close ends the attempt's progress: the command has returned.
func (p *nodeProgress) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// reuse returns the analysis made when o was reported, when o is the output that was
// reported (the same node, code, output, error and duration, and no structured output, which
// cannot be compared cheaply) and its duration did not need the attempt's.
func (p *nodeProgress) reuse(o command.Output) (outcome, bool) {
	if p == nil || o.Node == "" || o.Object != nil || (o.Duration == 0 && o.NotRun == "") {
		return outcome{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	oc, ok := p.seen[o.Node]
	if !ok || p.twice[o.Node] {
		return outcome{}, false
	}
	r := oc.out
	same := r.StatusCode == o.StatusCode && r.Stdout == o.Stdout && r.Stderr == o.Stderr &&
		r.Truncated == o.Truncated && r.NotRun == o.NotRun && r.Duration == o.Duration &&
		r.Object == nil && errText(r.Err) == errText(o.Err)
	return oc, same
}

// nodeResult is the decision's form of one node's analysed output.
func nodeResult(o *outcome) NodeResult {
	code := o.out.StatusCode
	nr := NodeResult{
		Node:      o.out.Node,
		Status:    o.status,
		Message:   o.message,
		Stdout:    o.out.Stdout,
		Stderr:    o.out.Stderr,
		NotRun:    o.out.NotRun,
		Duration:  Duration(o.out.Duration),
		Truncated: o.out.Truncated,
	}
	nr.setErrors(o.err, o.condErr)
	if o.out.NotRun == "" {
		nr.StatusCode = &code
	}
	return nr
}
