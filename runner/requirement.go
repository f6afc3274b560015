package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// The defaults of a requirement's retry: the pause between attempts, and how long it retries.
const (
	defaultRetryInterval = 5 * time.Second
	defaultRetryTimeout  = 10 * time.Minute
)

// errCanceledBeforeRun is an attempt's error when the run ended before the command started.
var errCanceledBeforeRun = errors.New("canceled before it ran")

// runRequirement evaluates requirement i: `when`, then its command (with retries), then the
// analysis. deps holds the statuses of the requirements it depends on.
func (s *state) runRequirement(ctx context.Context, i int, deps map[string]string) RequirementResult {
	req := s.reqs[i]
	start := time.Now()
	slot := &slot{ch: s.slots, held: true}
	if s.clusterCmd[i] {
		slot.ch = s.clusterSlots
	}
	defer slot.release()
	if ctx.Err() != nil { // handed a slot as the run ended
		return s.canceled(i, ctx)
	}
	s.emit(Event{Type: EventStarted, RequirementID: req.ID})
	rr := s.evaluate(ctx, req, deps, slot)
	rr.Duration = Duration(time.Since(start))
	return rr
}

func (s *state) evaluate(ctx context.Context, req *requirement.Requirement, deps map[string]string, slot *slot) RequirementResult {
	base := RequirementResult{
		ID:      req.ID,
		Strict:  req.Strict,
		Command: req.Command.ID,
		Details: req.Details.Render(nil),
	}
	fail := func(err error) RequirementResult {
		r := base
		r.Status = StatusFail
		r.Message = req.Message.Render(nil)
		r.setErrors(err, nil)
		return r
	}
	if s.needsPreviousVersion(req) {
		return fail(errNoPreviousVersion)
	}
	actx := s.baseContext()
	actx.Results = deps
	if req.When != nil {
		if req.When.UsesCluster() {
			facts, err := s.clusterFacts()
			if err != nil {
				return fail(fmt.Errorf("cluster facts: %w", err))
			}
			actx.Cluster = facts
		}
		ok, err := req.When.Eval(ctx, &actx, nil)
		if err != nil {
			return fail(fmt.Errorf("when: %w", err))
		}
		if !ok {
			r := base
			r.Status = StatusSkipped
			r.Message = req.Message.Render(nil)
			r.Notes = []string{"skipped: when is false: " + req.When.Source()}
			return r
		}
	}
	if actx.Cluster == nil && (conditionsUseCluster(req) || (!s.replay && valuesUseCluster(req))) {
		facts, err := s.clusterFacts()
		if err != nil {
			return fail(fmt.Errorf("cluster facts: %w", err))
		}
		actx.Cluster = facts
	}
	var prepared command.Prepared
	if !s.replay {
		// The data's K_expr keys are evaluated once per run of the requirement (retries reuse
		// the command): a value that fails or does not fit fails the requirement.
		p, err := req.Command.Resolve(ctx, &actx, command.SpecContext{Pods: s.spec.Pods})
		if err != nil {
			return fail(err)
		}
		prepared = p
	}

	if req.Retry == nil || s.replay {
		a := s.attempt(ctx, req, prepared, &actx, slot, 1)
		if errors.Is(a.runErr, errCanceledBeforeRun) || errors.Is(a.runErr, errNoRecording) {
			return fail(a.runErr)
		}
		r := a.result(base)
		s.outputs.keep(&r)
		if !s.replay {
			r.Attempts = 1
		}
		return r
	}
	return s.retry(ctx, req, prepared, &actx, base, slot)
}

// retry runs attempts until the status reaches Retry.Until, the retry timeout passes, the
// failure limit is hit or ctx ends; the last attempt's result stands.
func (s *state) retry(ctx context.Context, req *requirement.Requirement, prepared command.Prepared, actx *analyzer.Context, base RequirementResult, slot *slot) RequirementResult {
	rt := *req.Retry
	if rt.Interval <= 0 {
		rt.Interval = defaultRetryInterval
	}
	if rt.Timeout <= 0 {
		rt.Timeout = defaultRetryTimeout
	}
	if rt.Until == "" {
		rt.Until = requirement.StatusSuccess
	}
	deadline := time.Now().Add(rt.Timeout)
	rctx, cancel := context.WithDeadlineCause(ctx, deadline, fmt.Errorf("retry timeout of %s passed", rt.Timeout))
	defer cancel()

	// last is the latest attempt that counts, as kept (charged to the output budget); the
	// attempt itself, which holds the whole output, is dropped once analysed.
	var last *keptAttempt
	var note string
	consecutive := 0
	n := 0
	// stopped says why the attempts end early: the run ended, or the retry timeout passed.
	stopped := func(when string) string {
		if ctx.Err() != nil {
			return fmt.Sprintf("stopped after %d attempts: %v%s: last status %s", n, context.Cause(ctx), when, last.status)
		}
		return fmt.Sprintf("gave up after %d attempts over %s (retry timeout): last status %s, waiting for %s", n, rt.Timeout, last.status, rt.Until)
	}
	// One attempt per call, rt.Interval after the previous one ended, until it returns true
	// or rctx ends (the run, or the retry timeout).
	every := wait.Backoff{Duration: rt.Interval, Factor: 1, Steps: math.MaxInt32}
	err := wait.ExponentialBackoffWithContext(rctx, every, func(context.Context) (bool, error) {
		a := s.attempt(rctx, req, prepared, actx, slot, n+1)
		if errors.Is(a.runErr, errCanceledBeforeRun) {
			return false, a.runErr
		}
		// An attempt cut short by the retry deadline says less than the one before it.
		if last != nil && ctx.Err() == nil && rctx.Err() != nil && a.cmdErr {
			n++
			note = fmt.Sprintf("gave up after %d attempts over %s (retry timeout): the last attempt was cut short; showing the one before: status %s", n, rt.Timeout, last.status)
			return true, nil
		}
		n++
		if last != nil {
			s.outputs.give(last.charged)
		}
		last = &keptAttempt{status: a.status, result: a.result(base)}
		last.charged = s.outputs.keep(&last.result)
		slot.release() // a retry does not hold a slot while it waits
		done := false
		if a.cmdErr {
			consecutive++
		} else {
			consecutive = 0
		}
		switch {
		case reached(&a, rt.Until):
			done = true
		case command.Permanent(a.runErr):
			note = fmt.Sprintf("retry stopped at attempt %d: the error cannot change by retrying (a missing cluster or permission, a kind the cluster does not serve, an invalid request)", n)
			done = true
		case rt.FailureLimit > 0 && consecutive >= rt.FailureLimit:
			note = fmt.Sprintf("stopped after %d consecutive attempts that could not produce a result (failure_limit %d): last status %s", consecutive, rt.FailureLimit, last.status)
			done = true
		case rctx.Err() != nil || !time.Now().Add(rt.Interval).Before(deadline):
			// Do not wait for an attempt that could not start before the retry timeout.
			note = stopped("")
			done = true
		}
		e := Event{Type: EventAttempt, RequirementID: req.ID, Attempt: n, Result: copyResult(withAttempts(last.result, n))}
		if !done {
			e.RetryIn = Duration(rt.Interval)
		}
		s.emit(e)
		return done, nil
	})
	switch {
	case last == nil:
		// The run ended before the first attempt could start.
		r := base
		r.Status, r.Message = StatusFail, req.Message.Render(nil)
		r.setErrors(errCanceledBeforeRun, nil)
		return r
	case err != nil && note == "":
		note = stopped(" while waiting to retry")
	}
	r := withAttempts(last.result, n)
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	return *r
}

func withAttempts(r RequirementResult, n int) *RequirementResult {
	r.Attempts = n
	return &r
}

// reached reports whether an attempt reached the retry's goal: `until: success` wants a
// pass, `until: warn` a warn or a pass, `until: error` any outcome of a command that
// produced a result (it retries only while the command itself errors).
func reached(a *attempt, until requirement.Status) bool {
	switch until {
	case requirement.StatusWarn:
		return a.status == StatusPass || a.status == StatusWarn
	case requirement.StatusError:
		return !a.cmdErr
	default:
		return a.status == StatusPass
	}
}

func conditionsUseCluster(req *requirement.Requirement) bool {
	for _, res := range req.Results {
		if res.Condition != nil && res.Condition.Expr != nil && res.Condition.Expr.UsesCluster() {
			return true
		}
		if res.MessageExpr != nil && res.MessageExpr.UsesCluster() {
			return true
		}
	}
	return false
}

// valuesUseCluster reports whether a K_expr key of the command's data reads `cluster`.
func valuesUseCluster(req *requirement.Requirement) bool {
	for _, e := range req.Command.Expressions() {
		if e.UsesCluster() {
			return true
		}
	}
	return false
}

// keptAttempt is what a retry keeps of its latest attempt: the result, charged to the run's
// output budget, and its status.
type keptAttempt struct {
	status  Status
	result  RequirementResult
	charged int // the bytes the output budget charged for result
}

// attempt is one run of a requirement's command and its analysis.
type attempt struct {
	runErr error // the command could not produce a result at all (nil when it did)
	cmdErr bool  // the command could not produce a result on at least one target
	agg    aggregate
	status Status
	res    *command.Result
}

func (a *attempt) result(base RequirementResult) RequirementResult {
	r := base
	a.agg.fill(&r)
	if a.res != nil {
		r.Privileged = a.res.Privileged
		r.SecretValues = a.res.SecretValues
		r.Notes = append(r.Notes, a.res.Notes...)
	}
	return r
}

// slot is a requirement's claim on one of the run's slots: one of the Parallel slots for a
// host command, one of the MaxConcurrentPods cluster slots for a cluster command. The
// scheduler hands a requirement one when it starts; it is given back once an attempt's
// output is analysed and its result kept (so that a retry waiting between attempts does not
// hold it) and taken again for the next attempt.
type slot struct {
	ch   chan struct{} // the slots it is one of
	held bool
}

// acquire takes a slot unless one is held; false when ctx ended first.
func (sl *slot) acquire(ctx context.Context) bool {
	if !sl.held {
		select {
		case sl.ch <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		sl.held = true
	}
	return ctx.Err() == nil // do not start a command that is already cancelled
}

func (sl *slot) release() {
	if sl.held {
		<-sl.ch
		sl.held = false
	}
}

// attempt runs the command once (prepared for this run), within one slot, and analyses what
// it produced; number counts the attempts from 1.
func (s *state) attempt(ctx context.Context, req *requirement.Requirement, prepared command.Prepared, actx *analyzer.Context, slot *slot, number int) attempt {
	if !slot.acquire(ctx) {
		return attempt{runErr: errCanceledBeforeRun, status: StatusFail}
	}
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if t := req.Command.Timeout; t > 0 {
		cctx, cancel = context.WithTimeoutCause(ctx, t, &command.TimeoutError{After: t, Cause: context.DeadlineExceeded})
	}
	env := &command.Env{
		RequirementID: req.ID,
		RunID:         s.runID,
		Namespace:     s.opts.Namespace,
		Config:        s.opts.Config,
		Timeout:       req.Command.Timeout,
		OutputLimit:   s.opts.OutputLimit,
		Logger:        s.logger.With("requirement", req.ID),
		Session:       s.session,
		ClusterFacts:  s.clusterFactsCtx,
		AccessReviews: s.access,
		Cluster: command.ClusterSettings{
			QPS:               s.opts.QPS,
			Burst:             s.opts.Burst,
			MaxConcurrentPods: s.opts.MaxConcurrentPods,
		},
	}
	var nodes *nodeProgress
	if !s.replay { // a rolling step stops on the nodes' statuses, events or not
		nodes = s.watchNodes(ctx, req, actx, number)
		env.OnNodeScope, env.OnNodeDone = nodes.scope, nodes.done
	}
	start := time.Now()
	res, err := s.source(cctx, req, prepared, env)
	took := time.Since(start)
	nodes.close()
	ctxErr, cause := cctx.Err(), context.Cause(cctx)
	cancel()
	// The slot is held through the analysis, and until the caller has charged the result to
	// the output budget (and released it), so that at most Parallel + MaxConcurrentPods whole
	// outputs are held at once however many requirements there are, and with one slot of a
	// kind the budget is charged in spec order.
	a := attempt{res: res}
	switch {
	case errors.Is(err, errNoRecording):
		return attempt{runErr: err, status: StatusFail}
	case err != nil:
		a.runErr = err
		res = &command.Result{Outputs: []command.Output{runErrorOutput(err, ctxErr, cause, took)}}
	case res == nil:
		a.runErr = errors.New("the command returned no result")
		res = &command.Result{Outputs: []command.Output{{StatusCode: command.CodeGeneralError, Err: a.runErr, Duration: took}}}
	}
	a.agg = s.analyse(ctx, req, actx, res, took, nodes)
	a.status = a.agg.status
	a.cmdErr = a.runErr != nil || a.agg.cmdErr
	return a
}

// runErrorOutput turns a command's error into the one output analysis sees.
func runErrorOutput(err, ctxErr, cause error, took time.Duration) command.Output {
	out := command.Output{StatusCode: command.CodeGeneralError, Err: err, Duration: took}
	if ctxErr == nil {
		return out
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		out.StatusCode = command.CodeTimeout
	}
	if cause == nil {
		cause = ctxErr
	}
	// Say why the context ended ("timed out after 15s") and keep what the command knew.
	if errors.Is(err, ctxErr) && err.Error() == ctxErr.Error() {
		out.Err = cause
	} else if cause.Error() != err.Error() {
		out.Err = fmt.Errorf("%v: %w", cause, err)
	}
	return out
}

// runCommand is the source of Run: the requirement's command, prepared for this run. A command
// that panics (a bug in a caller-registered command) fails its requirement like any command
// that could not produce a result, rather than crashing the caller from a runner goroutine.
func runCommand(ctx context.Context, req *requirement.Requirement, p command.Prepared, env *command.Env) (res *command.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("command %s panicked: %v", req.Command.ID, r)
		}
	}()
	return p.Run(ctx, env)
}
