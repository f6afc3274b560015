package runner

import "time"

// Gate is the decision for the whole spec.
type Gate string

// Gates.
const (
	// GatePass: every requirement passed, was skipped or was acknowledged.
	GatePass Gate = "pass"
	// GateNeedsAck: a non-strict requirement failed or warned; the caller may proceed only
	// after acknowledging those requirements by id.
	GateNeedsAck Gate = "needs_ack"
	// GateBlocked: a strict requirement failed.
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
)

// Decision is the outcome of a run. Its JSON form is the CLI's `-o json` output.
type Decision struct {
	Gate         Gate                `json:"gate"`
	RunID        string              `json:"run_id"`
	Started      time.Time           `json:"started"`
	Duration     Duration            `json:"duration"`
	Requirements []RequirementResult `json:"requirements"`
}

// Blocked reports whether a strict requirement failed.
func (d *Decision) Blocked() bool { return d != nil && d.Gate == GateBlocked }

// RequirementResult is one requirement's outcome, in spec order.
type RequirementResult struct {
	ID      string `json:"id"`
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
	Strict  bool   `json:"strict,omitempty"`
	// Acknowledged is set when the requirement failed or warned and the caller acknowledged it.
	Acknowledged bool `json:"acknowledged,omitempty"`
	// Command is the command id that ran.
	Command  string   `json:"command,omitempty"`
	Duration Duration `json:"duration"`
	// StatusCode, Stdout, Stderr are those of the output that decided the status (the worst
	// node for fan-outs).
	StatusCode *int   `json:"status_code,omitempty"`
	Stdout     string `json:"stdout,omitempty"`
	Stderr     string `json:"stderr,omitempty"`
	// Error is why the requirement could not be evaluated or its command could not produce a
	// result (a `when` that errored, a timeout, a refused pod).
	Error string `json:"error,omitempty"`
	// Nodes lists every node of a per-node command: those that ran, those not run and why,
	// and those excluded from scope and why.
	Nodes []NodeResult `json:"nodes,omitempty"`
	// Privileged is set when the requirement ran a privileged pod (or one with host
	// namespaces or hostPath volumes).
	Privileged bool `json:"privileged,omitempty"`
	// Attempts is how many times the command ran (more than 1 with retry).
	Attempts int      `json:"attempts,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// NodeResult is one node's part in a per-node requirement.
type NodeResult struct {
	Node       string   `json:"node"`
	Status     Status   `json:"status"`
	Message    string   `json:"message,omitempty"`
	StatusCode *int     `json:"status_code,omitempty"`
	Stdout     string   `json:"stdout,omitempty"`
	Error      string   `json:"error,omitempty"`
	NotRun     string   `json:"not_run,omitempty"`
	Excluded   string   `json:"excluded,omitempty"`
	Duration   Duration `json:"duration"`
}

// EventType says what happened.
type EventType string

// Event types.
const (
	EventStarted  EventType = "started"
	EventFinished EventType = "finished"
)

// Event reports progress of a run.
type Event struct {
	Type          EventType
	RequirementID string
	// Result is set on EventFinished.
	Result *RequirementResult
}

// Duration is a time.Duration that marshals to JSON as seconds (a number), so the JSON
// output reads the same in every language.
type Duration time.Duration
