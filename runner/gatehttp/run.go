package gatehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// Run states.
const (
	stateRunning  = "running"
	stateDone     = "done"
	stateCanceled = "canceled"
)

// runBody is the answer of GET /runs/{id}, and the data of the done event.
type runBody struct {
	ID            string           `json:"id"`
	State         string           `json:"state"`
	Decision      *runner.Decision `json:"decision"`
	DeployAllowed bool             `json:"deploy_allowed"`
}

// entry is one recorded event: its SSE type and its JSON data.
type entry struct {
	typ  runner.EventType
	data []byte
}

// run is one run of the spec: its events, so far, and its decision once it ended.
type run struct {
	id      string
	spec    *requirement.Spec
	started time.Time
	cancel  func(error)
	ended   chan struct{} // closed when the run has ended

	mu          sync.Mutex
	events      []entry
	eventBytes  int
	maxBytes    int
	dropped     int
	changed     chan struct{} // closed, and replaced, when an event arrives or the run ends
	results     map[string]*runner.RequirementResult
	cancelAsked bool
	state       string
	decision    *runner.Decision
	finished    time.Time
}

func newRun(id string, spec *requirement.Spec, maxBytes int, now time.Time) *run {
	return &run{
		id: id, spec: spec, started: now, ended: make(chan struct{}),
		maxBytes: maxBytes, changed: make(chan struct{}),
		results: map[string]*runner.RequirementResult{}, state: stateRunning,
	}
}

// record appends e to the run's events (runner.Options.OnEvent: one call at a time).
func (r *run) record(e runner.Event) {
	data, err := json.Marshal(e)
	if err != nil { // a Decision always marshals; keep the stream going regardless
		data, _ = json.Marshal(map[string]string{"type": string(e.Type), "requirement_id": e.RequirementID, "error": err.Error()})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == runner.EventFinished && e.Result != nil {
		r.results[e.RequirementID] = e.Result
	}
	keep := e.Type == runner.EventStarted || e.Type == runner.EventFinished
	if !keep && r.eventBytes+len(data) > r.maxBytes {
		r.dropped++
		return
	}
	r.events = append(r.events, entry{typ: e.Type, data: data})
	r.eventBytes += len(data)
	r.notify()
}

// notify wakes the watchers; r.mu is held.
func (r *run) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// finish records the run's decision and returns its state.
func (r *run) finish(d *runner.Decision, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decision = d
	r.finished = now
	r.state = stateDone
	if r.cancelAsked && d.Error != "" {
		r.state = stateCanceled
	}
	close(r.ended)
	r.notify()
	return r.state
}

// markCanceled records that the run is to be cancelled; false when it has already ended.
func (r *run) markCanceled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != stateRunning {
		return r.state == stateCanceled
	}
	r.cancelAsked = true
	return true
}

// finishedAt returns when the run ended, and whether it has.
func (r *run) finishedAt() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished, r.state != stateRunning
}

// since returns the events after the first n, whether the run has ended (so that no event
// will follow them), and a channel closed when that changes.
func (r *run) since(n int) ([]entry, bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []entry
	if n < len(r.events) {
		out = slices.Clone(r.events[n:])
	}
	return out, r.state != stateRunning, r.changed
}

// body is the GET /runs/{id} answer: while the run is running, its decision holds what
// finished so far, in spec order, with a blocked gate.
func (r *run) body(now time.Time) runBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := runBody{ID: r.id, State: r.state, Decision: r.decision}
	if r.state == stateRunning {
		d := &runner.Decision{Gate: runner.GateBlocked, Started: r.started,
			Duration: runner.Duration(now.Sub(r.started)), Requirements: []runner.RequirementResult{}}
		for _, req := range r.spec.Requirements {
			if res := r.results[req.ID]; res != nil {
				d.Requirements = append(d.Requirements, *res)
			}
		}
		b.Decision = d
	}
	b.DeployAllowed = r.state == stateDone && b.Decision.Gate == runner.GatePass
	return b
}

// acknowledge applies acknowledgments to the run's decision; on error it returns the HTTP
// status that fits.
func (r *run) acknowledge(ids, warnings []string, by string, now time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case stateRunning:
		return http.StatusConflict, fmt.Errorf("run %s is still running: acknowledge once it is done", r.id)
	case stateCanceled:
		return http.StatusConflict, fmt.Errorf("run %s was canceled: its gate stays blocked; start a new run", r.id)
	}
	d, err := r.decision.Acknowledge(ids, warnings, by, now)
	if err != nil {
		var oe *runner.OptionError
		switch {
		case !errors.As(err, &oe): // an interrupted run (its deadline passed)
			return http.StatusConflict, err
		case allStrict(err):
			return http.StatusConflict, errors.New(optionErrors(err, ackFields))
		default:
			return http.StatusBadRequest, errors.New(optionErrors(err, ackFields))
		}
	}
	r.decision = d
	return http.StatusOK, nil
}

// allStrict reports whether every error joined in err asks to acknowledge a strict failure:
// the request is well formed, and the gate refuses it.
func allStrict(err error) bool {
	for _, e := range unjoin(err) {
		if !errors.Is(e, runner.ErrStrictFailure) {
			return false
		}
	}
	return true
}
