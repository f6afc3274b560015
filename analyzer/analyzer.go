// Package analyzer compiles and evaluates a spec's CEL expressions (`when` and result
// conditions): they are compiled once, when a spec loads, in one shared environment, type
// checked against the variables of their scope and priced by a static cost estimate; they are
// evaluated against a Context (the run's variables) and an Input (one command output) under
// a per-call cost limit, a run-wide Budget and the caller's context. Package requirement
// uses them to match a command's output against a requirement's results.
package analyzer

import (
	"sync"
	"time"

	"github.com/google/cel-go/common/types/ref"
)

// Scope says which variables an expression may use.
type Scope int

const (
	// ScopeWhen is for `when` (and the `_expr` keys of a command's data): vars, app, phase,
	// cluster, results.
	ScopeWhen Scope = iota
	// ScopeCondition is for result conditions: the when variables plus status_code, stdout,
	// stderr, error, output, node, duration and truncated.
	ScopeCondition
	// ScopeSecretsCondition is for the result conditions (and message_expr) of a requirement
	// whose command opted in to read Secret values (the kubernetes command's
	// include_secret_values): ScopeCondition's variables plus base64.decode and base64.encode.
	ScopeSecretsCondition
)

// Context holds the variables every expression sees. One Context serves a whole run; it
// must not be changed while expressions use it, except through the runner's own copies.
type Context struct {
	Vars    map[string]any    // `vars`: values given by the caller
	App     App               // `app`
	Phase   string            // `phase`: install, upgrade, post-install or post-upgrade
	Cluster map[string]any    // `cluster`: version and nodes, nil until fetched
	Results map[string]string // `results`: requirement id to status, for depends_on
	Budget  *Budget           // the run's CEL cost budget; nil means no run-wide budget
}

// App describes the application being installed or upgraded.
type App struct {
	Version         string
	PreviousVersion string
	// Namespace is app.namespace: the namespace the app is installed in, the run's namespace
	// for cluster commands.
	Namespace string
}

// Input is one command output as conditions see it. Do not copy an Input once an expression
// has read it.
type Input struct {
	StatusCode int           // `status_code`
	Stdout     string        // `stdout`
	Stderr     string        // `stderr`
	Error      string        // `error`: empty when the command produced a result
	Object     any           // `output` when not nil; otherwise Stdout parsed as JSON (or null)
	Node       string        // `node`
	Duration   time.Duration // `duration`
	// Truncated is `truncated`: the command's output was cut at its limit, so Stdout and
	// Stderr, and `output` when it is parsed from Stdout (Object nil), are incomplete.
	Truncated bool

	// output memoizes `output`: expressions of several results evaluated on one Input parse
	// stdout at most once.
	output struct {
		once sync.Once
		v    ref.Val
	}
}

// outputValue returns `output`, computing it on first use.
func (in *Input) outputValue() ref.Val {
	in.output.once.Do(func() { in.output.v = outputValue(in) })
	return in.output.v
}
