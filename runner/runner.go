// Package runner runs a loaded spec and returns the gate decision: it evaluates each
// requirement's `when`, runs the commands in parallel under a bounded limit with per-command
// timeouts and an overall deadline, analyses every output and aggregates per-node results.
//
// The decision is data: a requirement that fails, errors or times out is a result in the
// Decision, never an error of Run. Run returns an error in two cases only: the run could not
// start (invalid options, an invalid hand-built spec, an acknowledgment of a strict or unknown
// requirement), with no decision; or it was interrupted (its context was cancelled or
// Options.Timeout passed), with the partial decision, whose gate is blocked, and an
// *InterruptedError. The command errors behind a requirement's result are kept in
// RequirementResult.Err for errors.As and errors.Is.
package runner

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/requirement"
)

// Phase is where the run stands in the caller's action: before it (Install, Upgrade: the
// gate) or after it (PostInstall, PostUpgrade: the verification), so that one spec carries
// both and each requirement's `when` picks its phase.
type Phase string

// Phases.
const (
	// Install: an install is about to happen. app.previous_version is empty.
	Install Phase = "install"
	// Upgrade: an upgrade from app.previous_version to app.version is about to happen.
	Upgrade Phase = "upgrade"
	// PostInstall: the install of app.version has been applied; verify it.
	PostInstall Phase = "post-install"
	// PostUpgrade: the upgrade has been applied; app.version is the version now installed
	// and app.previous_version still the one it was upgraded from.
	PostUpgrade Phase = "post-upgrade"
)

// phases lists the valid phases in the order of an action.
var phases = []Phase{Install, Upgrade, PostInstall, PostUpgrade}

// Valid reports whether p is one of the four phases. The empty phase is not (Options takes
// it as Install).
func (p Phase) Valid() bool { return slices.Contains(phases, p) }

// phaseList is "install, upgrade, post-install or post-upgrade".
func phaseList() string {
	s := make([]string, len(phases))
	for i, p := range phases {
		s[i] = string(p)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// DefaultParallel is how many commands run at once when Options.Parallel is 0.
const DefaultParallel = 8

// Options configure a Runner. The zero value runs host commands with the defaults.
type Options struct {
	// Config reaches the cluster; nil runs without one (cluster commands then fail).
	// It is never mutated.
	Config *rest.Config
	// Namespace for cluster commands that name none; "default" when empty. CEL sees it as
	// app.namespace.
	Namespace string
	// Vars is what CEL sees as `vars`. Runs read it concurrently; do not change it while a
	// Run uses it.
	Vars map[string]any
	// Phase is `phase` (Install, Upgrade, PostInstall or PostUpgrade); Install when empty.
	// The decision records it.
	Phase Phase
	// AppVersion and PreviousVersion are `app.version` and `app.previous_version`: empty, or
	// semantic versions (MAJOR.MINOR.PATCH, optional -pre-release and +build), checked by New
	// (an *OptionError otherwise) and given to CEL without a leading "v" ("v1.9.0" is seen as
	// "1.9.0", ready for semver()). On an Upgrade or PostUpgrade run without PreviousVersion,
	// a requirement that reads app.previous_version fails with an error that says to give
	// it; the others run as usual.
	AppVersion      string
	PreviousVersion string
	// Parallel bounds how many host commands (exec, http, tcp: any command whose Prepared
	// does not report UsesCluster) run, and have their output analysed, at once; 0 means
	// DefaultParallel. Cluster commands (scheduler, kubernetes, logs, dry_run) do not take
	// these slots: they cost the host almost nothing while they wait on the cluster, and are
	// bounded by MaxConcurrentPods and by QPS and Burst instead. Slots of each kind are
	// handed out in spec order, so Parallel 1 runs the host commands one after the other.
	Parallel int
	// Timeout is the deadline of the whole run; 0 means none.
	Timeout time.Duration
	// Acknowledge lists requirement ids the caller accepts when they fail, warn or do not
	// run: such a requirement keeps its status, is marked Acknowledged and no longer holds
	// the gate. Naming an id the spec does not have, or a strict requirement, is an error of
	// Run (nothing can accept a strict failure).
	Acknowledge []string
	// AcknowledgeWarnings lists requirement ids whose warnings (not failures) the caller
	// accepts. Unlike Acknowledge it may name strict requirements: strict concerns failures,
	// so a strict requirement that warns asks for an acknowledgment like any other warning.
	AcknowledgeWarnings []string
	// OutputLimit caps each command's stdout and stderr; 0 means command.DefaultOutputLimit.
	// Output past it is dropped and the result marked Truncated; a success judged on the cut
	// output by conditions that read it fails with requirement.ErrTruncatedOutput, which
	// names this option as the one to raise.
	OutputLimit int
	// OutputBudget bounds the command output the whole run keeps: the bytes of stdout and
	// stderr held in its results (RequirementResult.Stdout and Stderr, and those of each
	// NodeResult; the latest attempt's while a requirement retries); 0 means 64 MiB.
	// Conditions always see a command's whole output (up to OutputLimit): only what the
	// decision keeps after the analysis is trimmed. A requirement that finishes once the
	// budget is used keeps what is left of it and is marked OutputTrimmed, with a note.
	// With Parallel, MaxConcurrentPods and OutputLimit it bounds the output a run holds
	// whatever the number of requirements: about OutputBudget + 2 x (Parallel +
	// MaxConcurrentPods) x OutputLimit (a per-node command also holds each node's output
	// until the analysis).
	OutputBudget int
	// QPS and Burst for the run's cluster clients, set on a copy of Config; 0 takes defaults.
	QPS   float32
	Burst int
	// MaxConcurrentPods bounds how many pods of the run exist at once, over all its
	// requirements, and how many cluster commands run (and have their output analysed) at
	// once; 0 means 128. 1 runs the cluster commands one after the other, in spec order.
	MaxConcurrentPods int
	// CostBudget is the CEL cost budget shared by every expression of one run (each
	// evaluation also has its own per-call limit); 0 means 10,000,000. An expression
	// evaluated after the budget is spent fails, and so does its requirement.
	CostBudget uint64
	// OnEvent, when set, receives an event as each requirement starts, as each node of a
	// per-node command finishes (EventNode), as each retry attempt finishes and as the
	// requirement finishes. It is called from the runner's goroutines, one call at a time,
	// and should return quickly: scheduling waits for it.
	OnEvent func(Event)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Runner runs specs. It is safe for concurrent use.
type Runner struct {
	opts Options
	// fetchCluster reads the cluster facts; clusterinfo.Fetch unless a test replaces it.
	fetchCluster func(ctx context.Context, cfg *rest.Config) (map[string]any, error)
	// newReviewClient makes the clientset of the run's permission check; newReviewClient
	// (the package function) when nil; tests give a fake.
	newReviewClient func(cfg *rest.Config, opts *Options) (kubernetes.Interface, error)
}

// New returns a Runner for opts.
func New(opts Options) (*Runner, error) { return newRunner(opts) }

// Run runs spec and returns the decision. Failures of requirements, including command errors
// and timeouts, are in the decision and never make it pass. The error is non-nil in two cases:
// the run could not start (invalid options or spec, an acknowledgment of a strict or unknown
// requirement), and the decision is nil; or ctx was cancelled or Options.Timeout passed before
// every requirement finished: the error is an *InterruptedError and the decision is returned
// too, its gate blocked, with what finished and the rest failed as not started. The pods the
// run created are deleted before Run returns, in both cases.
//
// With a cluster (Options.Config), Run first checks every permission it derives for the
// requirements that may run in this phase (as Permissions derives them), with
// SelfSubjectAccessReviews; when one is denied or cannot be verified nothing runs: the
// requirements that need it fail with a *command.PermissionError and the others are not run.
func (r *Runner) Run(ctx context.Context, spec *requirement.Spec) (*Decision, error) {
	return r.run(ctx, spec)
}

// Check reports what Run would refuse before running anything (an invalid spec,
// acknowledgments the spec cannot take: *OptionError values, joined), without running
// anything; nil means Run will start. Servers that start runs in the background use it to
// answer bad input at once.
func (r *Runner) Check(spec *requirement.Spec) error {
	_, err := r.newState(spec)
	return err
}

// InterruptedError is the error of Run and Evaluate when their context was cancelled or
// Options.Timeout passed before every requirement finished. The decision is returned with it
// (gate blocked, Decision.Error holding this error's text). errors.Is matches both the
// context's error (context.Canceled or context.DeadlineExceeded) and its cause.
type InterruptedError struct {
	// Err is the context's error: context.Canceled or context.DeadlineExceeded.
	Err error
	// Cause is the context's cause (context.Cause), such as "run timed out after 10m"; it
	// equals Err when the context was ended without one.
	Cause error
}

// Error returns "run interrupted: <cause>: <err>", or "run interrupted: <err>" when the cause
// says no more than the error.
func (e *InterruptedError) Error() string {
	if e.Cause == nil || e.Cause == e.Err {
		return fmt.Sprintf("run interrupted: %v", e.Err)
	}
	return fmt.Sprintf("run interrupted: %v: %v", e.Cause, e.Err)
}

// Unwrap returns the context's error and its cause.
func (e *InterruptedError) Unwrap() []error { return []error{e.Err, e.Cause} }

// OptionError is a problem with one of the Options: New returns them for values out of range,
// Run and Evaluate for acknowledgments the spec cannot take (an id it does not have, the
// failures of a strict requirement), before anything runs. Several problems come back joined
// (errors.Join); errors.As finds each.
type OptionError struct {
	// Option is the field of Options: "Parallel", "Phase", "Acknowledge", ...
	Option string
	// Value is the offending value, or the acknowledged id.
	Value string
	// Reason says what is wrong and what would be right.
	Reason string
	// strict is set for an acknowledgment of a strict requirement's failure.
	strict bool
}

// Is reports whether target is ErrStrictFailure and e asks to acknowledge a strict
// requirement's failure.
func (e *OptionError) Is(target error) bool { return target == ErrStrictFailure && e.strict }

// Error returns `runner options: Acknowledge "db": the spec has no requirement with that id`.
func (e *OptionError) Error() string {
	return fmt.Sprintf("runner options: %s %q: %s", e.Option, e.Value, e.Reason)
}
