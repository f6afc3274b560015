package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/clusterinfo"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/requirement"
)

// sessionCloseTimeout bounds how long a run waits, after it is done or cancelled, for its
// session to release what commands created (pods, watches).
const sessionCloseTimeout = 60 * time.Second

func newRunner(opts Options) (*Runner, error) {
	var errs []error
	bad := func(option string, value any, reason string) {
		errs = append(errs, &OptionError{Option: option, Value: fmt.Sprint(value), Reason: reason})
	}
	if opts.Parallel < 0 {
		bad("Parallel", opts.Parallel, fmt.Sprintf("must be 0 (default %d) or more", DefaultParallel))
	}
	if opts.Timeout < 0 {
		bad("Timeout", opts.Timeout, "must be 0 (none) or more")
	}
	if opts.OutputLimit < 0 {
		bad("OutputLimit", opts.OutputLimit, fmt.Sprintf("must be 0 (default %d bytes) or more", command.DefaultOutputLimit))
	}
	if opts.OutputBudget < 0 {
		bad("OutputBudget", opts.OutputBudget, fmt.Sprintf("must be 0 (default %d bytes) or more", defaultOutputBudget))
	}
	if opts.MaxConcurrentPods < 0 {
		bad("MaxConcurrentPods", opts.MaxConcurrentPods, "must be 0 (default) or more")
	}
	if opts.QPS < 0 {
		bad("QPS", opts.QPS, "must be 0 (default) or more")
	}
	if opts.Burst < 0 {
		bad("Burst", opts.Burst, "must be 0 (default) or more")
	}
	if opts.Phase != "" && !opts.Phase.Valid() {
		bad("Phase", opts.Phase, "must be "+phaseList())
	}
	for _, v := range []struct {
		option string
		value  *string
	}{{"AppVersion", &opts.AppVersion}, {"PreviousVersion", &opts.PreviousVersion}} {
		norm, err := normalizeVersion(*v.value)
		if err != nil {
			bad(v.option, *v.value, err.Error())
			continue
		}
		*v.value = norm
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Parallel == 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Phase == "" {
		opts.Phase = Install
	}
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	if opts.OutputLimit == 0 {
		opts.OutputLimit = command.DefaultOutputLimit
	}
	if opts.OutputBudget == 0 {
		opts.OutputBudget = defaultOutputBudget
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// The caller's slices and maps are copied so that later changes do not race with runs.
	opts.Acknowledge = slices.Clone(opts.Acknowledge)
	opts.AcknowledgeWarnings = slices.Clone(opts.AcknowledgeWarnings)
	return &Runner{opts: opts, fetchCluster: clusterinfo.Fetch}, nil
}

func (r *Runner) run(ctx context.Context, spec *requirement.Spec) (*Decision, error) {
	s, err := r.newState(spec)
	if err != nil {
		return nil, err
	}
	s.source = runCommand
	return s.execute(ctx)
}

// Evaluate analyses recorded command outputs (the `-o json` form of an earlier decision)
// against spec without running any command: each requirement's `when` is evaluated as in
// Run, and its results are matched against the recorded output of the requirement with the
// same id (its status_code, stdout, stderr and error, or its nodes for per-node commands).
// A requirement that applies but has no recorded output (none, or one recorded as skipped or
// not run) fails with "no recorded output"; a recording that lists an id twice is an error.
// Retries are not repeated: the recorded output is analysed once. Cluster facts come from
// the recording's `cluster` when present, else from Options.Config. The options apply as in
// Run (vars, phase, acknowledgments, events); the returned decision has the same shape.
func (r *Runner) Evaluate(ctx context.Context, spec *requirement.Spec, recorded *Decision) (*Decision, error) {
	if recorded == nil {
		return nil, errors.New("evaluate: no recorded decision")
	}
	s, err := r.newState(spec)
	if err != nil {
		return nil, err
	}
	s.source, err = recordedSource(recorded)
	if err != nil {
		return nil, err
	}
	s.replay = true
	if recorded.Cluster != nil {
		s.presetCluster = normalizeNumbers(recorded.Cluster).(map[string]any)
	}
	return s.execute(ctx)
}

// state is one run (or evaluation) of one spec.
type state struct {
	r      *Runner
	opts   *Options
	spec   *requirement.Spec
	reqs   []*requirement.Requirement
	index  map[string]int
	deps   [][]int // deps[i]: indexes of the requirements i depends on
	logger *slog.Logger
	// source produces a requirement's command result: runs it, or replays a recording.
	source source
	replay bool
	runID  string
	// runCtx is the run's context (with Options.Timeout); cluster facts are fetched under it.
	runCtx  context.Context
	session *command.Session
	// access holds the run's allowed SelfSubjectAccessReviews (checkAccess), which the
	// commands' own checks consult.
	access  *command.AccessReviews
	budget  *analyzer.Budget
	outputs *outputBudget // the output the run keeps (Options.OutputBudget)
	// slots bound the host commands that run at once (Parallel); clusterSlots the cluster
	// commands (MaxConcurrentPods). clusterCmd[i] says which requirement i takes.
	slots        chan struct{}
	clusterSlots chan struct{}
	clusterCmd   []bool
	acks         acknowledgments

	eventMu sync.Mutex

	clusterOnce   sync.Once
	presetCluster map[string]any
	cluster       map[string]any
	clusterErr    error
}

// newState validates spec and the acknowledgments against it.
func (r *Runner) newState(spec *requirement.Spec) (*state, error) {
	if spec == nil {
		return nil, errors.New("runner: spec is nil")
	}
	s := &state{
		r:      r,
		opts:   &r.opts,
		spec:   spec,
		reqs:   spec.Requirements,
		index:  make(map[string]int, len(spec.Requirements)),
		logger: r.opts.Logger,
	}
	if err := spec.Check(); err != nil {
		return nil, fmt.Errorf("runner: invalid spec: %w", err)
	}
	for i, req := range s.reqs {
		s.index[req.ID] = i
	}
	s.deps = make([][]int, len(s.reqs))
	for i, req := range s.reqs {
		for _, d := range req.DependsOn {
			if j := s.index[d]; !slices.Contains(s.deps[i], j) {
				s.deps[i] = append(s.deps[i], j)
			}
		}
	}
	var errs []error
	known := make([]string, len(s.reqs))
	for i, req := range s.reqs {
		known[i] = req.ID
	}
	s.acks, errs = checkAcks(r.opts.Acknowledge, r.opts.AcknowledgeWarnings, "the spec", known, func(id string) (bool, bool) {
		i, ok := s.index[id]
		return ok && s.reqs[i].Strict, ok
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// execute schedules every requirement and builds the decision.
func (s *state) execute(ctx context.Context) (*Decision, error) {
	started := time.Now()
	s.runID = podrun.NewRunID()
	s.logger = s.logger.With("run_id", s.runID)
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if s.opts.Timeout > 0 {
		runCtx, cancel = context.WithTimeoutCause(ctx, s.opts.Timeout,
			fmt.Errorf("run timed out after %s", s.opts.Timeout))
	}
	defer cancel()
	s.runCtx = runCtx
	s.session = &command.Session{}
	s.budget = analyzer.NewBudget(s.opts.CostBudget)
	s.outputs = &outputBudget{limit: s.opts.OutputBudget}
	s.slots = make(chan struct{}, s.opts.Parallel)
	maxPods := s.opts.MaxConcurrentPods
	if maxPods <= 0 {
		maxPods = podrun.DefaultMaxConcurrentPods
	}
	s.clusterSlots = make(chan struct{}, maxPods)
	s.clusterCmd = make([]bool, len(s.reqs))
	for i, req := range s.reqs {
		// A replayed run runs nothing: its requirements take the host slots, in spec order.
		s.clusterCmd[i] = !s.replay && req.Command.UsesCluster()
	}
	defer func() {
		// Cleanup outlives a cancelled ctx, so that pods are deleted even then.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), sessionCloseTimeout)
		defer ccancel()
		if err := s.session.Close(cctx); err != nil {
			s.logger.Warn("closing the run's session", "error", err)
		}
	}()
	s.logger.Debug("run starting", "requirements", len(s.reqs), "parallel", s.opts.Parallel, "cluster_parallel", maxPods)

	results, stopped := s.checkAccess(runCtx)
	if !stopped {
		results = s.schedule(runCtx)
	}

	d := &Decision{
		RunID:        s.runID,
		Phase:        s.opts.Phase,
		Started:      started,
		Requirements: results,
		Gate:         computeGate(results),
	}
	if s.clusterErr == nil && s.cluster != nil && !s.replay {
		d.Cluster = s.cluster
	} else if s.replay && s.presetCluster != nil {
		d.Cluster = s.presetCluster
	}
	var err error
	if cerr := runCtx.Err(); cerr != nil {
		ie := &InterruptedError{Err: cerr, Cause: context.Cause(runCtx)}
		d.Error = ie.Error()
		d.Gate = GateBlocked
		err = ie
	}
	d.Duration = Duration(time.Since(started))
	s.logger.Debug("run finished", "gate", d.Gate, "duration", time.Duration(d.Duration))
	return d, err
}

// schedule runs the requirements as a DAG: a requirement starts as soon as the ones it
// depends on are done; command runs are bounded by the slots (see state.slots). It returns the results in spec
// order once every requirement has one.
func (s *state) schedule(ctx context.Context) []RequirementResult {
	n := len(s.reqs)
	results := make([]RequirementResult, n)
	finished := make([]bool, n)
	pending := make([]int, n)
	dependents := make([][]int, n)
	var ready []int
	for i := range s.reqs {
		pending[i] = len(s.deps[i])
		for _, j := range s.deps[i] {
			dependents[j] = append(dependents[j], i)
		}
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	done := make(chan int, n)
	running, remaining := 0, n

	// complete records that i is done and makes its dependents ready (or not run).
	var complete func(i int)
	complete = func(i int) {
		finished[i] = true
		remaining--
		s.acknowledge(&results[i])
		s.emit(Event{Type: EventFinished, RequirementID: s.reqs[i].ID, Result: copyResult(&results[i])})
		for _, k := range dependents[i] {
			pending[k]--
			if pending[k] > 0 || finished[k] { // finished: cancelled at the end of a run
				continue
			}
			if ctx.Err() != nil {
				results[k] = s.canceled(k, ctx)
				complete(k)
				continue
			}
			if failed := s.failedDeps(k, results); failed != "" {
				results[k] = s.notRun(k, failed)
				complete(k)
				continue
			}
			at, _ := slices.BinarySearch(ready, k)
			ready = slices.Insert(ready, at, k)
		}
	}
	// launch starts requirement i, which holds a slot.
	launch := func(i int) {
		running++
		deps := make(map[string]string, len(s.deps[i]))
		for _, j := range s.deps[i] {
			deps[s.reqs[j].ID] = string(results[j].Status)
		}
		go func() {
			results[i] = s.runRequirement(ctx, i, deps)
			done <- i
		}()
	}

	// Slots are handed out here, in spec order among the ready requirements of each kind, so
	// that with Parallel 1 host commands run one after the other in spec order (and cluster
	// commands with MaxConcurrentPods 1). A host command waits for one of the Parallel slots;
	// a cluster command, which costs the host almost nothing while it waits on the cluster,
	// for one of the MaxConcurrentPods cluster slots instead.
	for remaining > 0 && ctx.Err() == nil {
		host, cluster := s.firstReady(ready, false), s.firstReady(ready, true)
		var slot, clusterSlot chan struct{}
		if host >= 0 {
			slot = s.slots
		}
		if cluster >= 0 {
			clusterSlot = s.clusterSlots
		}
		if host < 0 && cluster < 0 && running == 0 {
			break // nothing can progress (cannot happen: the graph is acyclic)
		}
		select {
		case slot <- struct{}{}:
			i := ready[host]
			ready = slices.Delete(ready, host, host+1)
			launch(i)
		case clusterSlot <- struct{}{}:
			i := ready[cluster]
			ready = slices.Delete(ready, cluster, cluster+1)
			launch(i)
		case i := <-done:
			running--
			complete(i)
		case <-ctx.Done():
		}
	}
	// Cancelled (or done): wait for what runs; they see ctx and return promptly.
	for running > 0 {
		i := <-done
		running--
		complete(i)
	}
	for i := range s.reqs {
		if !finished[i] {
			results[i] = s.canceled(i, ctx)
			complete(i)
		}
	}
	return results
}

// firstReady returns the position in ready of the first requirement that takes a cluster
// slot (cluster true) or a host slot (false), or -1.
func (s *state) firstReady(ready []int, cluster bool) int {
	return slices.IndexFunc(ready, func(i int) bool { return s.clusterCmd[i] == cluster })
}

// failedDeps returns why requirement k cannot run ("" when it can): the dependencies that
// failed or did not run. A skipped dependency is not a failure.
func (s *state) failedDeps(k int, results []RequirementResult) string {
	var why []string
	for _, j := range s.deps[k] {
		switch results[j].Status {
		case StatusFail:
			why = append(why, s.reqs[j].ID+", which failed")
		case StatusNotRun:
			why = append(why, s.reqs[j].ID+", which did not run")
		}
	}
	return strings.Join(why, "; ")
}

func (s *state) notRun(k int, why string) RequirementResult {
	req := s.reqs[k]
	return RequirementResult{
		ID:      req.ID,
		Status:  StatusNotRun,
		Strict:  req.Strict,
		Command: req.Command.ID,
		Message: "not run: depends on " + why,
		Details: req.Details.Render(nil),
	}
}

func (s *state) canceled(i int, ctx context.Context) RequirementResult {
	req := s.reqs[i]
	why := errCanceledBeforeRun
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		why = fmt.Errorf("not started: %w", cause)
	}
	r := RequirementResult{
		ID:      req.ID,
		Status:  StatusFail,
		Strict:  req.Strict,
		Command: req.Command.ID,
		Message: req.Message.Render(nil),
		Details: req.Details.Render(nil),
	}
	r.setErrors(why, nil)
	return r
}

// acknowledge marks r acknowledged when the caller accepted its status.
func (s *state) acknowledge(r *RequirementResult) {
	if ok, warning := s.acks.accepts(r); ok {
		r.Acknowledged = true
		r.Acknowledgment = &Acknowledgment{At: time.Now(), Warning: warning}
	}
}

// emit hands e to OnEvent, one call at a time.
func (s *state) emit(e Event) {
	if s.opts.OnEvent == nil {
		return
	}
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	e.At = time.Now()
	s.opts.OnEvent(e)
}

func copyResult(r *RequirementResult) *RequirementResult {
	c := *r
	c.Nodes = slices.Clone(r.Nodes)
	c.Notes = slices.Clone(r.Notes)
	if r.StatusCode != nil {
		v := *r.StatusCode
		c.StatusCode = &v
	}
	if r.Acknowledgment != nil {
		a := *r.Acknowledgment
		c.Acknowledgment = &a
	}
	return &c
}

// clusterFacts returns the cluster facts, fetching them once per run on first use.
func (s *state) clusterFacts() (map[string]any, error) {
	s.clusterOnce.Do(func() {
		switch {
		case s.presetCluster != nil:
			s.cluster = s.presetCluster
		case s.opts.Config == nil:
			s.clusterErr = fmt.Errorf("they need a cluster, but %w", command.ErrNoCluster)
		default:
			s.cluster, s.clusterErr = s.r.fetchCluster(s.runCtx, s.opts.Config)
			if s.clusterErr == nil && s.cluster == nil {
				s.cluster = map[string]any{}
			}
		}
	})
	return s.cluster, s.clusterErr
}

// clusterFactsCtx is clusterFacts for a command (cluster_info): the same one fetch per run,
// which a caller stops waiting for when ctx ends (the fetch itself runs under the run's
// context, for the other requirements that wait for it).
func (s *state) clusterFactsCtx(ctx context.Context) (map[string]any, error) {
	type answer struct {
		facts map[string]any
		err   error
	}
	ch := make(chan answer, 1)
	go func() {
		f, err := s.clusterFacts()
		ch <- answer{f, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, fmt.Errorf("cluster facts: %w", a.err)
		}
		return a.facts, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("cluster facts: %w", context.Cause(ctx))
	}
}

// source produces a requirement's command result from the command prepared for this run (p):
// runs it, or replays a recording.
type source func(ctx context.Context, req *requirement.Requirement, p command.Prepared, env *command.Env) (*command.Result, error)

// baseContext is the analyzer context every requirement starts from.
func (s *state) baseContext() analyzer.Context { return baseContextOf(s.opts, s.budget) }

// baseContextOf is the analyzer context of a run with opts (its Namespace and Phase already
// defaulted) charging budget.
func baseContextOf(opts *Options, budget *analyzer.Budget) analyzer.Context {
	return analyzer.Context{
		Vars:   opts.Vars,
		App:    analyzer.App{Version: opts.AppVersion, PreviousVersion: opts.PreviousVersion, Namespace: opts.Namespace},
		Phase:  string(opts.Phase),
		Budget: budget,
	}
}
