package requirement

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/preflightkit/preflight/internal/specschema"
)

// crossChecks checks what spans requirements, documents and files: ids are unique, and
// depends_on names existing requirements without a cycle.
func (l *loader) crossChecks() {
	byID := make(map[string]*entry, len(l.reqs))
	for _, e := range l.reqs {
		id := e.req.ID
		if id == "" || e.doc.isFlagged(with(e.tokens, "id")) {
			continue
		}
		if first, dup := byID[id]; dup {
			l.problem(e.doc.loc(with(e.tokens, "id"), atValue), fmt.Sprintf(
				"duplicate id %q; first defined at %s", id, first.doc.loc(with(first.tokens, "id"), atValue).String()))
			continue
		}
		byID[id] = e
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, e := range l.reqs {
		if byID[e.req.ID] != e {
			continue
		}
		for i, dep := range e.req.DependsOn {
			if _, ok := byID[dep]; ok || l.incomplete {
				continue
			}
			at := with(e.tokens, "depends_on", itoa(i))
			if e.doc.isFlagged(at) {
				continue
			}
			msg := fmt.Sprintf("unknown requirement id %q", dep)
			if s := specschema.Suggest(dep, ids); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.problem(e.doc.loc(at, atValue), msg)
		}
	}
	l.cycles(byID)
}

// cycles reports each dependency cycle once, at the depends_on entry of its first member in
// spec order, naming the whole cycle: a -> b -> a.
func (l *loader) cycles(byID map[string]*entry) {
	reqs := make([]*Requirement, 0, len(byID))
	for _, e := range l.reqs {
		if byID[e.req.ID] == e {
			reqs = append(reqs, e.req)
		}
	}
	for _, cycle := range cycles(reqs) {
		e := byID[cycle[0]]
		at := with(e.tokens, "depends_on")
		for i, dep := range e.req.DependsOn {
			if dep == cycle[1] {
				at = with(at, itoa(i))
				break
			}
		}
		l.problem(e.doc.loc(at, atValue), "dependency cycle: "+strings.Join(cycle, " -> "))
	}
}

// cycles returns each depends_on cycle of reqs once, as the ids of its members starting with
// the one written first and ending with it again (a, b, a). Requirements whose id is empty or
// taken by an earlier one, and depends_on entries that name no requirement, are ignored: they
// are problems of their own.
func cycles(reqs []*Requirement) [][]string {
	index := make(map[string]int, len(reqs))
	for i, r := range reqs {
		if r == nil || r.ID == "" {
			continue
		}
		if _, dup := index[r.ID]; !dup {
			index[r.ID] = i
		}
	}
	const (
		unvisited = iota
		active
		done
	)
	state := make([]int, len(reqs))
	var stack []int
	var found [][]string
	reported := map[string]bool{}
	var visit func(i int)
	visit = func(i int) {
		state[i] = active
		stack = append(stack, i)
		for _, dep := range reqs[i].DependsOn {
			j, ok := index[dep]
			if !ok {
				continue
			}
			switch state[j] {
			case unvisited:
				visit(j)
			case active:
				start := len(stack) - 1
				for stack[start] != j {
					start--
				}
				members := slices.Clone(stack[start:])
				key := fmt.Sprint(slices.Sorted(slices.Values(members)))
				if reported[key] {
					continue
				}
				reported[key] = true
				// Start the cycle at its member written first.
				first := slices.Index(members, slices.Min(members))
				ids := make([]string, 0, len(members)+1)
				for k := range members {
					ids = append(ids, reqs[members[(first+k)%len(members)]].ID)
				}
				found = append(found, append(ids, ids[0]))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i, r := range reqs {
		if r != nil && index[r.ID] == i && state[i] == unvisited {
			visit(i)
		}
	}
	return found
}

// Check verifies what Load guarantees of a spec's requirements, for a Spec built or changed
// in Go: each requirement has a unique, non-empty id, and depends_on names other requirements
// of the spec, without a cycle. It returns every problem, joined. The runner calls it before
// it runs a spec.
func (s *Spec) Check() error {
	if s == nil {
		return errors.New("spec is nil")
	}
	var errs []error
	index := make(map[string]int, len(s.Requirements))
	for i, r := range s.Requirements {
		switch {
		case r == nil:
			errs = append(errs, fmt.Errorf("requirement %d is nil", i))
			continue
		case r.ID == "":
			errs = append(errs, fmt.Errorf("requirement %d has no id", i))
		}
		if j, dup := index[r.ID]; dup {
			errs = append(errs, fmt.Errorf("requirement %q: id used twice (requirements %d and %d)", r.ID, j, i))
			continue
		}
		index[r.ID] = i
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, r := range s.Requirements {
		for _, d := range r.DependsOn {
			switch _, ok := index[d]; {
			case !ok:
				errs = append(errs, fmt.Errorf("requirement %q: depends_on names %q, which the spec does not have", r.ID, d))
			case d == r.ID:
				errs = append(errs, fmt.Errorf("requirement %q: depends_on names itself", r.ID))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, c := range cycles(s.Requirements) {
		errs = append(errs, fmt.Errorf("depends_on has a cycle: %s", strings.Join(c, " -> ")))
	}
	return errors.Join(errs...)
}
