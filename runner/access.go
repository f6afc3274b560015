package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/requirement"
)

// newReviewClient is the clientset the run's permission check uses: cfg with the run's QPS
// and burst.
func newReviewClient(cfg *rest.Config, opts *Options) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(podrun.RunConfig(cfg, podrun.Options{QPS: opts.QPS, Burst: opts.Burst}))
}

// checkAccess is the run's permission check, made before the first requirement runs when the
// run has a cluster: it derives, as Permissions does, what every requirement that may run in
// this phase calls (a `when` that reads only vars, app and phase is evaluated first; one that
// reads cluster or results counts as true), and asks the API server about all of it at once
// (SelfSubjectAccessReviews, concurrently). The allowed answers go to s.access, which the
// commands' own checks consult. A requirement whose calls cannot be derived (its data comes
// from K_expr keys that read cluster or results, a kind the cluster does not serve, ...)
// keeps only its command's own check.
//
// When a permission is denied or cannot be verified, nothing runs: it returns the results of
// the run, every requirement that needs such a permission failed with a
// *command.PermissionError listing them, every other requirement not run; stopped is then
// true.
func (s *state) checkAccess(ctx context.Context) (results []RequirementResult, stopped bool) {
	s.access = &command.AccessReviews{}
	if s.replay || s.opts.Config == nil {
		return nil, false
	}
	mapper, err := newMapper(s.opts.Config)
	if err != nil {
		s.logger.Debug("permission check: no discovery client; commands check their own permissions", "error", err)
		return nil, false
	}
	base := s.baseContext()
	base.Budget = nil // the check's evaluations are not the run's
	spec := command.SpecContext{Pods: s.spec.Pods}
	perReq := make([][]command.Permission, len(s.reqs))
	skipped := make([]bool, len(s.reqs))
	var all []command.Permission
	seen := map[command.Permission]bool{}
	for i, req := range s.reqs {
		if w := req.When; w != nil && !w.Reads("cluster") && !w.Reads("results") {
			if ok, err := w.Eval(ctx, &base, nil); err == nil && !ok {
				skipped[i] = true
				continue
			}
		}
		n, err := needsOf(ctx, req, mapper, &base, spec)
		if err != nil {
			s.logger.Debug("permission check: the requirement's calls cannot be derived; its command checks its own permissions", "requirement", req.ID, "error", err)
			continue
		}
		perReq[i] = n.perms
		for _, p := range n.perms {
			if !seen[p] {
				seen[p] = true
				all = append(all, p)
			}
		}
	}
	if len(all) == 0 {
		return nil, false
	}
	newClient := s.r.newReviewClient
	if newClient == nil {
		newClient = newReviewClient
	}
	cs, err := newClient(s.opts.Config, s.opts)
	if err == nil {
		err = s.access.Check(ctx, cs, s.opts.Namespace, all)
	} else {
		err = fmt.Errorf("the run's permission check: cluster client: %w", err)
	}
	if err == nil {
		s.logger.Debug("permission check passed", "permissions", len(all))
		return nil, false
	}
	s.logger.Debug("permission check failed: nothing runs", "error", err)
	return s.accessDenied(ctx, perReq, skipped, err), true
}

// accessDenied builds the results of a run whose permission check failed with err: the
// requirements of perReq that need a permission err lists fail with a *command.PermissionError
// of theirs (their results analysed as for a command that failed with it), the others do not
// run (not even those whose `when` is false: nothing ran, see the comment below). Each result is acknowledged as in a run and reported as
// finished.
func (s *state) accessDenied(ctx context.Context, perReq [][]command.Permission, skipped []bool, err error) []RequirementResult {
	var pe *command.PermissionError
	errors.As(err, &pe)
	denied := map[command.Permission]string{}
	unknown := map[command.Permission]error{}
	if pe != nil {
		for i, p := range pe.Denied {
			denied[p] = pe.Reasons[i]
		}
		for i, p := range pe.Unknown {
			unknown[p] = pe.Errs[i]
		}
	}
	results := make([]RequirementResult, len(s.reqs))
	var failed []string
	for i, req := range s.reqs {
		r := RequirementResult{ID: req.ID, Strict: req.Strict, Command: req.Command.ID, Message: req.Message.Render(nil), Details: req.Details.Render(nil)}
		own := &command.PermissionError{Namespace: s.opts.Namespace}
		for _, p := range perReq[i] {
			if reason, ok := denied[p]; ok {
				own.Denied, own.Reasons = append(own.Denied, p), append(own.Reasons, reason)
			}
			if e, ok := unknown[p]; ok {
				own.Unknown, own.Errs = append(own.Unknown, p), append(own.Errs, e)
			}
		}
		var cmdErr error
		switch {
		case len(own.Denied) > 0 || len(own.Unknown) > 0:
			cmdErr = own
		case pe == nil && len(perReq[i]) > 0: // the check itself could not be made
			cmdErr = err
		}
		if cmdErr != nil {
			r = s.failedCheck(ctx, req, r, cmdErr)
			failed = append(failed, req.ID)
		}
		results[i] = r
	}
	why := "not run: the run's permission check failed for " + strings.Join(failed, ", ") + "; nothing was created"
	for i, req := range s.reqs {
		r := &results[i]
		switch {
		case slices.Contains(failed, req.ID):
		case s.needsPreviousVersion(req):
			// As evaluate fails it, before its `when`.
			r.Status = StatusFail
			r.setErrors(errNoPreviousVersion, nil)
		default:
			// Nothing ran, so no requirement is skipped either: a `when` that is false from
			// the vars says nothing of the dependencies it would have waited for (a
			// requirement that depends on a failed one does not run, whatever its `when`).
			r.Status = StatusNotRun
			r.Message = why
			if skipped[i] {
				r.Notes = []string{"its when is false (" + req.When.Source() + "), but the run stopped before any requirement ran"}
			}
		}
		s.acknowledge(r)
		s.emit(Event{Type: EventFinished, RequirementID: req.ID, Result: copyResult(r)})
	}
	return results
}

// failedCheck is the result of req, whose command was not run because the permission check
// failed with cmdErr: the results are analysed as for a command that failed with cmdErr (so
// that a result with condition.error gives its message and status; never pass).
func (s *state) failedCheck(ctx context.Context, req *requirement.Requirement, base RequirementResult, cmdErr error) RequirementResult {
	actx := s.baseContext()
	res := &command.Result{Outputs: []command.Output{runErrorOutput(cmdErr, nil, nil, 0)}}
	a := attempt{runErr: cmdErr, cmdErr: true, res: res, agg: s.analyse(ctx, req, &actx, res, 0, nil)}
	return a.result(base) // the analysis never passes a command error
}
