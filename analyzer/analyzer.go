// Package analyzer turns a command's output into a status. A requirement's results are
// tried in order and the first whose condition matches wins; the properties of a condition
// (status_code, error, expr) are ANDed; a result without a condition always matches; when
// none matches the status is error, with a message naming the requirement.
//
// It also owns the requirement's CEL expressions (`when` and `condition.expr`): they are
// compiled once, when a spec loads, in one shared environment, and evaluated here.
package analyzer

import (
	"context"
	"time"
)

// Status is the status a result gives a requirement.
type Status string

// The statuses a result may name.
const (
	StatusSuccess Status = "success"
	StatusWarn    Status = "warn"
	StatusError   Status = "error"
)

// Scope says which variables an expression may use.
type Scope int

const (
	// ScopeWhen is for `when`: vars, app, phase, cluster, results.
	ScopeWhen Scope = iota
	// ScopeCondition is for result conditions: the when variables plus status_code, stdout,
	// stderr, error, output, node and duration.
	ScopeCondition
)

// Result is one of a requirement's ordered results.
type Result struct {
	Status    Status
	Message   Message
	Condition *Condition // nil: always matches
}

// Condition is what a result requires of an output. Every property that is set must hold.
type Condition struct {
	StatusCode *int        // the status code equals this (0 counts as set)
	Error      *bool       // the command could (false) or could not (true) produce a result
	Expr       *Expression // a CEL expression that must evaluate to true
}

// Message is a requirement's or a result's message: plain text, or a text whose {{.name}}
// placeholders are filled from Args. Args values may themselves be the classic templates
// {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }} and {{repl Trim .Result }}.
type Message struct {
	ID   string            // optional stable id of the message (classic format)
	Text string            // the text, or the classic default_message
	Args map[string]string // values for the placeholders of Text
}

// Context holds the variables every expression sees. One Context serves a whole run; it
// must not be changed while expressions use it, except through the runner's own copies.
type Context struct {
	Vars    map[string]any    // `vars`: values given by the caller
	App     App               // `app`
	Phase   string            // `phase`: install or upgrade
	Cluster map[string]any    // `cluster`: version and nodes, nil until fetched
	Results map[string]string // `results`: requirement id to status, for depends_on
	Budget  *Budget           // the run's CEL cost budget; nil means no run-wide budget
}

// App describes the application being installed or upgraded.
type App struct {
	Version         string
	PreviousVersion string
}

// Input is one command output as conditions see it.
type Input struct {
	StatusCode int           // `status_code`
	Stdout     string        // `stdout`
	Stderr     string        // `stderr`
	Error      string        // `error`: empty when the command produced a result
	Object     any           // `output` when not nil; otherwise Stdout parsed as JSON (or null)
	Node       string        // `node`
	Duration   time.Duration // `duration`
}

// Outcome is the analysis of one output.
type Outcome struct {
	Status  Status // the matched result's status, or StatusError
	Message string // the matched result's message, rendered
	Matched int    // index of the matched result, -1 when none matched or evaluation failed
	// Err is set when a condition could not be evaluated (a CEL runtime error, the cost
	// limit). The status is then StatusError: an evaluation error never passes.
	Err error
}

// Analyze picks the first of results that matches in, under c.
func Analyze(ctx context.Context, id string, results []Result, c *Context, in *Input) Outcome {
	return analyze(ctx, id, results, c, in)
}
