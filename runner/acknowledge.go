package runner

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/preflightkit/preflight/internal/specschema"
)

// ErrStrictFailure is matched (errors.Is) by the *OptionError of an acknowledgment that asks
// to accept a strict requirement's failure, which nothing can accept: Acknowledge naming a
// strict requirement, or Decision.Acknowledge's warnings naming one that failed.
var ErrStrictFailure = errors.New("a strict requirement's failure cannot be acknowledged")

// acknowledgments are the ids a run or a decision accepts: ids as Options.Acknowledge takes
// them, warnings as Options.AcknowledgeWarnings.
type acknowledgments struct {
	ids, warnings map[string]bool
}

// checkAcks validates ids and warnings against the requirements that find knows (whether id
// exists, and whether it is strict); known lists their ids, for a suggestion when an id is
// misspelt; where names what holds them in the errors ("the spec", "the decision"). The
// errors are *OptionError values, one per problem.
func checkAcks(ids, warnings []string, where string, known []string, find func(id string) (strict, ok bool)) (acknowledgments, []error) {
	a := acknowledgments{ids: map[string]bool{}, warnings: map[string]bool{}}
	var errs []error
	unknown := func(option, id string) error {
		reason := where + " has no requirement with that id"
		if s := specschema.Suggest(id, known); s != "" {
			reason += fmt.Sprintf("; did you mean %q?", s)
		}
		return &OptionError{Option: option, Value: id, Reason: reason}
	}
	for _, id := range ids {
		strict, ok := find(id)
		switch {
		case !ok:
			errs = append(errs, unknown("Acknowledge", id))
		case strict:
			errs = append(errs, &OptionError{Option: "Acknowledge", Value: id, strict: true,
				Reason: "the requirement is strict: its failures cannot be acknowledged, only its warnings"})
		default:
			a.ids[id] = true
		}
	}
	for _, id := range warnings {
		if _, ok := find(id); !ok {
			errs = append(errs, unknown("AcknowledgeWarnings", id))
			continue
		}
		a.warnings[id] = true
	}
	return a, errs
}

// accepts reports whether a accepts r's status, and whether as a warning's acknowledgment.
func (a acknowledgments) accepts(r *RequirementResult) (ok, warning bool) {
	switch {
	case r.Status == StatusWarn && a.ids[r.ID]:
		return true, false
	case r.Status == StatusWarn && a.warnings[r.ID]:
		return true, true
	case (r.Status == StatusFail || r.Status == StatusNotRun) && a.ids[r.ID] && !r.Strict:
		return true, false
	}
	return false, false
}

// Acknowledge returns a copy of d, the decision of a finished run, with more of its
// requirements acknowledged and its gate decided again, without running anything: what a
// console does when a user accepts, after the run, what the decision asks them to. ids are
// accepted as Options.Acknowledge accepts them (failures, warnings and not-run requirements
// that are not strict), warnings as Options.AcknowledgeWarnings (warnings only, strict
// requirements included). Each requirement it accepts gets Acknowledged and an
// Acknowledgment with by and at (time.Now() when at is zero); one acknowledged before keeps
// its first Acknowledgment, and ids whose status needs nothing (pass, skipped) change nothing.
//
// d is not changed. Nothing is acknowledged when any id is refused; the error joins an
// *OptionError per problem (Option "Acknowledge" for ids, "AcknowledgeWarnings" for
// warnings): an id d does not have, a strict requirement in ids, or, in warnings, a
// requirement that failed or did not run (a strict one's error matches ErrStrictFailure).
// The decision of an interrupted run (Decision.Error set) stays blocked and cannot be
// acknowledged.
func (d *Decision) Acknowledge(ids, warnings []string, by string, at time.Time) (*Decision, error) {
	if d == nil {
		return nil, errors.New("acknowledge: no decision")
	}
	if d.Error != "" {
		return nil, fmt.Errorf("acknowledge: the run was interrupted (%s): its gate stays blocked; run it again", d.Error)
	}
	index := make(map[string]*RequirementResult, len(d.Requirements))
	known := make([]string, len(d.Requirements))
	for i := range d.Requirements {
		index[d.Requirements[i].ID] = &d.Requirements[i]
		known[i] = d.Requirements[i].ID
	}
	a, errs := checkAcks(ids, warnings, "the decision", known, func(id string) (bool, bool) {
		r, ok := index[id]
		return ok && r.Strict, ok
	})
	for _, id := range warnings {
		if r := index[id]; r != nil && (r.Status == StatusFail || r.Status == StatusNotRun) {
			reason := fmt.Sprintf("its status is %s, not warn: acknowledge a failure with the ids, not the warnings", r.Status)
			if r.Strict {
				reason = fmt.Sprintf("the requirement is strict and its status is %s: nothing can acknowledge it", r.Status)
			}
			errs = append(errs, &OptionError{Option: "AcknowledgeWarnings", Value: id, Reason: reason, strict: r.Strict})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = time.Now()
	}
	c := *d
	c.Requirements = slices.Clone(d.Requirements)
	for i := range c.Requirements {
		r := &c.Requirements[i]
		if r.Acknowledged {
			continue
		}
		if ok, warning := a.accepts(r); ok {
			r.Acknowledged = true
			r.Acknowledgment = &Acknowledgment{By: by, At: at, Warning: warning}
		}
	}
	c.Gate = computeGate(c.Requirements)
	return &c, nil
}
