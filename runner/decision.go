package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Gate is the decision for the whole spec.
type Gate string

// Gates.
const (
	// GatePass: every requirement passed, was skipped or was acknowledged.
	GatePass Gate = "pass"
	// GateNeedsAck: a requirement failed, warned or did not run and is not acknowledged
	// (and none is blocking); the caller may proceed only after acknowledging those
	// requirements by id (Decision.NeedsAck lists them).
	GateNeedsAck Gate = "needs_ack"
	// GateBlocked: a strict requirement failed or did not run, or the run was cut short
	// (Decision.Error says why). Nothing can acknowledge it.
	GateBlocked Gate = "blocked"
)

// Status is a requirement's status in the decision.
type Status string

// Statuses.
const (
	StatusPass    Status = "pass"
	StatusWarn    Status = "warn"
	StatusFail    Status = "fail"
	StatusSkipped Status = "skipped"
	// StatusNotRun: the requirement did not run because a requirement it depends on failed
	// or did not run. For the gate it counts like a failure (fail closed).
	StatusNotRun Status = "not_run"
)

// Decision is the outcome of a run. Its JSON form is the CLI's `-o json` output.
type Decision struct {
	Gate  Gate   `json:"gate"`
	RunID string `json:"run_id"`
	// Phase is the phase the run evaluated (`phase` in CEL).
	Phase    Phase     `json:"phase"`
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
	// Error is set when the run was cut short (its context was cancelled or its deadline
	// passed) before every requirement finished; the gate is then blocked.
	Error        string              `json:"error,omitempty"`
	Requirements []RequirementResult `json:"requirements"`
	// Cluster holds the cluster facts (`cluster` in CEL) the run fetched, nil when no
	// expression used them. Evaluate reuses them from a recorded decision.
	Cluster map[string]any `json:"cluster,omitempty"`
}

// Blocked reports whether the gate is blocked: the caller must not proceed.
func (d *Decision) Blocked() bool { return d != nil && d.Gate == GateBlocked }

// RequirementResult is one requirement's outcome, in spec order.
type RequirementResult struct {
	ID      string `json:"id"`
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
	Strict  bool   `json:"strict,omitempty"`
	// Acknowledged is set when the requirement failed, warned or did not run and the caller
	// acknowledged it; Acknowledgment then says who and when.
	Acknowledged   bool            `json:"acknowledged,omitempty"`
	Acknowledgment *Acknowledgment `json:"acknowledgment,omitempty"`
	// Command is the command id that ran.
	Command  string   `json:"command,omitempty"`
	Duration Duration `json:"duration"`
	// StatusCode, Stdout, Stderr are those of the output that decided the status (the worst
	// node for fan-outs).
	StatusCode *int   `json:"status_code,omitempty"`
	Stdout     string `json:"stdout,omitempty"`
	Stderr     string `json:"stderr,omitempty"`
	// Truncated is set when a command output was cut at the output limit (Options.OutputLimit;
	// for a per-node command, any node's: each node's own is in Nodes). Its stdout and stderr
	// are then incomplete; see requirement.ErrTruncatedOutput for what it means for the status.
	// Evaluate reads it back from a recording.
	Truncated bool `json:"truncated,omitempty"`
	// OutputTrimmed is set when the run's output budget (Options.OutputBudget) was used up
	// before this requirement finished, so that Stdout and Stderr (or those of some of its
	// nodes) hold only the start of what the command printed, or nothing; a note says how
	// much was kept. The conditions saw the whole output: the status does not depend on it.
	OutputTrimmed bool `json:"output_trimmed,omitempty"`
	// Error is why the requirement could not be evaluated or its command could not produce a
	// result (a `when` that errored, a timeout, a refused pod).
	Error string `json:"error,omitempty"`
	// ConditionError is why a result condition could not be evaluated (a CEL runtime error,
	// the cost limit); the requirement then fails. Before v0.2 it was part of Error, after the
	// command's error, as "condition: ...".
	ConditionError string `json:"condition_error,omitempty"`
	// Err holds the errors behind Error and ConditionError (joined), for errors.As and
	// errors.Is: *command.TimeoutError, *command.PermissionError, *command.PodError (and its
	// kinds such as command.ErrUnschedulable), analyzer.ErrCostLimit, ... It is not part of
	// the JSON form, so it is nil in a decision read back from JSON.
	Err error `json:"-"`
	// Nodes lists every node of a per-node command: those that ran, those not run and why,
	// and those excluded from scope and why.
	Nodes []NodeResult `json:"nodes,omitempty"`
	// Privileged is set when the requirement ran a privileged pod (or one with host
	// namespaces or hostPath volumes).
	Privileged bool `json:"privileged,omitempty"`
	// SecretValues is set when the requirement's conditions saw the values of Secrets (the
	// kubernetes command with include_secret_values: true). Stdout never holds them.
	SecretValues bool `json:"secret_values,omitempty"`
	// Attempts is how many times the command ran (more than 1 with retry).
	Attempts int      `json:"attempts,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Acknowledgment records who accepted a requirement's status, and when.
type Acknowledgment struct {
	// By names who acknowledged (the by of Decision.Acknowledge); empty when the
	// acknowledgment came with the run's Options.
	By string `json:"by,omitempty"`
	// At is when the acknowledgment was recorded: when the requirement finished, for those
	// that came with the run's Options.
	At time.Time `json:"at"`
	// Warning is set when it was given as a warning's acknowledgment
	// (Options.AcknowledgeWarnings, or the warnings of Decision.Acknowledge), which accepts
	// warnings only.
	Warning bool `json:"warning,omitempty"`
}

// NodeResult is one node's part in a per-node requirement.
type NodeResult struct {
	Node       string `json:"node"`
	Status     Status `json:"status"`
	Message    string `json:"message,omitempty"`
	StatusCode *int   `json:"status_code,omitempty"`
	Stdout     string `json:"stdout,omitempty"`
	Stderr     string `json:"stderr,omitempty"`
	// OutputTrimmed is as in RequirementResult, for this node's Stdout and Stderr.
	OutputTrimmed bool `json:"output_trimmed,omitempty"`
	// Error, ConditionError and Err are as in RequirementResult, for this node.
	Error          string   `json:"error,omitempty"`
	ConditionError string   `json:"condition_error,omitempty"`
	Err            error    `json:"-"`
	NotRun         string   `json:"not_run,omitempty"`
	Excluded       string   `json:"excluded,omitempty"`
	Duration       Duration `json:"duration"`
	// Truncated is set when this node's output was cut at the output limit.
	Truncated bool `json:"truncated,omitempty"`
}

// EventType says what happened.
type EventType string

// Event types.
const (
	// EventStarted: the requirement's dependencies are done and it begins (its `when` is
	// evaluated next).
	EventStarted EventType = "started"
	// EventNode: one node of a command that runs on several nodes is done; Node holds that
	// node's result, analysed as the decision will show it, Nodes how many nodes the command
	// reports on, and Attempt the attempt it belongs to (a retry starts the nodes over). It
	// comes before its attempt's EventAttempt and the requirement's EventFinished. Node
	// results come only from a run (not from Evaluate), and only from commands that report
	// them (the scheduler with global or node_selector).
	EventNode EventType = "node"
	// EventAttempt: one attempt of a requirement with retry finished; Attempt numbers it
	// from 1 and Result holds that attempt's outcome.
	EventAttempt EventType = "attempt"
	// EventFinished: the requirement has its final result. Every requirement of a run gets
	// exactly one, including skipped, not-run and cancelled ones.
	EventFinished EventType = "finished"
)

// Event reports progress of a run. Its JSON form (snake_case, empty fields left out) is
// what consoles stream.
type Event struct {
	Type          EventType `json:"type"`
	RequirementID string    `json:"requirement_id"`
	// At is when the event happened.
	At time.Time `json:"at"`
	// Attempt is the attempt number on EventAttempt and EventNode (1, 2, ...), 0 otherwise.
	Attempt int `json:"attempt,omitempty"`
	// Result is set on EventAttempt and EventFinished. It is the receiver's copy.
	Result *RequirementResult `json:"result,omitempty"`
	// Node is set on EventNode: the node's result. It is the receiver's copy.
	Node *NodeResult `json:"node,omitempty"`
	// Nodes is set on EventNode: how many nodes the attempt reports on in all (those in
	// scope, including those that cannot run it); 0 when the command did not say.
	Nodes int `json:"nodes,omitempty"`
	// RetryIn is set on an EventAttempt that another attempt follows: the pause before it
	// (the retry's interval). It is 0 on an attempt known to be the last (the status was
	// reached, the error cannot change by retrying, the failure limit was hit, or the next
	// attempt could not start before the retry timeout). The retry timeout or the run's end
	// can still cut the announced pause short, so the last attempt may carry a RetryIn.
	RetryIn Duration `json:"retry_in,omitempty"`
}

// Duration is a time.Duration that marshals to JSON as seconds (a number), so the JSON
// output reads the same in every language.
type Duration time.Duration

// MarshalJSON writes d as a number of seconds, such as 1.5 or 0.00025.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON reads a number of seconds, as MarshalJSON writes it. A string holding a Go
// duration ("1.5s", "10m") is accepted too, for hand-written recordings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: want a number of seconds: %w", err)
	}
	if math.IsNaN(secs) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf("duration: %v seconds is out of range", secs)
	}
	*d = Duration(math.Round(secs * float64(time.Second)))
	return nil
}

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// Passed reports whether the gate lets the caller proceed without acknowledging anything.
func (d *Decision) Passed() bool { return d != nil && d.Gate == GatePass }

// NeedsAck returns the ids of the requirements that failed, warned or did not run and are
// not acknowledged, in spec order: the ids a caller must acknowledge (Options.Acknowledge,
// or Options.AcknowledgeWarnings for strict requirements that warned) to proceed when the
// gate is needs_ack. Strict requirements that failed are not listed: nothing can accept them.
func (d *Decision) NeedsAck() []string {
	if d == nil {
		return nil
	}
	var ids []string
	for i := range d.Requirements {
		r := &d.Requirements[i]
		if r.Acknowledged || !r.Status.needsAck() || (r.Strict && r.Status != StatusWarn) {
			continue
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// needsAck reports whether s stops the gate from passing unless acknowledged.
func (s Status) needsAck() bool {
	return s == StatusFail || s == StatusWarn || s == StatusNotRun
}

// computeGate decides the gate from the requirements' results: blocked when a strict
// requirement failed or did not run; else needs_ack when a requirement failed, warned or did
// not run and is not acknowledged; else pass.
func computeGate(results []RequirementResult) Gate {
	gate := GatePass
	for i := range results {
		r := &results[i]
		switch {
		case r.Strict && (r.Status == StatusFail || r.Status == StatusNotRun):
			return GateBlocked
		case r.Status.needsAck() && !r.Acknowledged:
			gate = GateNeedsAck
		}
	}
	return gate
}

// setErrors records the command's error and the condition's evaluation error.
func (r *RequirementResult) setErrors(cmd, cond error) {
	r.Error, r.ConditionError, r.Err = errText(cmd), errText(cond), errors.Join(cmd, cond)
}

// setErrors records the node's command error and the condition's evaluation error.
func (n *NodeResult) setErrors(cmd, cond error) {
	n.Error, n.ConditionError, n.Err = errText(cmd), errText(cond), errors.Join(cmd, cond)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
