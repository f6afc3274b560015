// Package requirement holds a spec's types and loads them: a multi-document YAML stream (or
// several files) in the classic custom_requirements format plus kind: Pod documents, decoded
// strictly, validated against the embedded schema, with every CEL expression compiled and
// every command's data checked by its implementation. All problems of a spec come back at
// once, as an *Error listing each with its file, line:column and field path.
//
// Load reads readers and LoadFiles reads files, both under Limits. A Spec is immutable once
// loaded and safe to run concurrently. Requirement.Analyze matches a command's output against
// the requirement's results (the first whose condition holds wins); Spec.Check verifies a
// Spec built in Go as the loader would; Spec.NeedsCluster tells whether running it needs a
// cluster.
package requirement

import (
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
)

// DefaultTimeout is a command's timeout when the spec gives none.
const DefaultTimeout = 15 * time.Second

// Spec is a loaded, validated spec.
type Spec struct {
	// Requirements in the order the spec gives them (documents and files in order).
	Requirements []*Requirement
	// Pods are the spec's pod templates by metadata.name.
	Pods map[string]*corev1.Pod
	// Notes are remarks about the spec that are not problems, each with its location: the
	// classic format's fields that preflight accepts and does not use (host_requirements,
	// components, a document of the application's own Kubernetes objects, ...).
	Notes []Problem
}

// Requirement is one requirement of a spec.
type Requirement struct {
	ID      string
	Message Message
	Details Message
	// When, when not nil, decides whether the requirement applies; false skips it.
	When *analyzer.Expression
	// Strict requirements block the gate when they fail; they cannot be acknowledged.
	Strict  bool
	Command Command
	// Results are tried in order; the first that matches gives the status.
	Results []Result
	// Retry, when not nil, re-runs the command until a status is reached.
	Retry *Retry
	// DependsOn lists requirement ids that must finish before this one starts.
	DependsOn []string
	// Location is where the requirement is written.
	Location Location
}

// Command is the command a requirement runs.
type Command struct {
	ID string
	// Timeout is the command's timeout; 0 means none (the spec's -1). When the spec gives
	// none, it is DefaultTimeout.
	Timeout time.Duration
	// Data is the command's data as JSON, as the spec gives it (K_expr keys included).
	Data json.RawMessage
	// Prepared is what the command's implementation made of Data; the runner runs it. It is
	// nil when Data has K_expr keys: the command is then prepared when the requirement runs,
	// with their values (see Resolve and Expressions).
	Prepared command.Prepared
	// SecretValues is set when the command's output holds the values of Secrets (the
	// kubernetes command with include_secret_values: true): the requirement's conditions and
	// message_expr then also have base64.decode and base64.encode.
	SecretValues bool

	values []dataValue     // the K_expr keys of Data
	static any             // Data without its K_expr keys
	impl   command.Command // the implementation, to prepare with the values
}

// UsesCluster reports whether the command talks to the API server: its Prepared value, or
// its implementation when the data is only complete at run time, has a UsesCluster method
// that returns true, or a UsesClusterWith method that returns true for the data (the http
// command's service target given by K_expr keys). The runner bounds such commands by the run's pod concurrency and the
// client's rate limits rather than by its slots for host commands.
func (c *Command) UsesCluster() bool {
	if u, ok := c.Prepared.(interface{ UsesCluster() bool }); ok {
		return u.UsesCluster()
	}
	if c.Prepared != nil {
		return false
	}
	if u, ok := c.impl.(interface{ UsesClusterWith(json.RawMessage) bool }); ok && u.UsesClusterWith(c.Data) {
		return true
	}
	u, ok := c.impl.(interface{ UsesCluster() bool })
	return ok && u.UsesCluster()
}

// Retry re-runs a requirement's command and re-analyses it until its status is Until or
// Timeout passes.
type Retry struct {
	Interval time.Duration // the pause between attempts; 0 means 5s
	Timeout  time.Duration // how long attempts go on; 0 means 10m
	Until    Status        // the status to reach; "" means StatusSuccess
	// FailureLimit stops retrying after that many consecutive attempts whose command could
	// not produce a result; 0 means no limit.
	FailureLimit int
}

// Location is a place in a spec.
type Location struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Path is the field path, such as custom_requirements[2].results[0].condition.expr.
	Path string `json:"path,omitempty"`
}

// Summary describes a loaded spec in one line, for `preflight validate`: how many
// requirements and pod templates it holds.
func (s *Spec) Summary() string {
	if s == nil {
		return "no spec"
	}
	return fmt.Sprintf("%s, %s", plural(len(s.Requirements), "requirement"), plural(len(s.Pods), "pod template"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// NeedsCluster reports whether running the spec needs a cluster: a requirement's command
// talks to the API server (Command.UsesCluster), or one of its expressions reads `cluster`.
func (s *Spec) NeedsCluster() bool {
	for _, r := range s.Requirements {
		if r == nil {
			continue
		}
		if r.Command.UsesCluster() {
			return true
		}
		if r.When != nil && r.When.UsesCluster() {
			return true
		}
		for _, e := range r.Command.Expressions() {
			if e.UsesCluster() {
				return true
			}
		}
		for _, res := range r.Results {
			if res.Condition != nil && res.Condition.Expr != nil && res.Condition.Expr.UsesCluster() {
				return true
			}
			if res.MessageExpr != nil && res.MessageExpr.UsesCluster() {
				return true
			}
		}
	}
	return false
}
