package requirement

import (
	"fmt"
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
	const (
		unvisited = iota
		active
		done
	)
	state := make(map[string]int, len(byID))
	var stack []string
	reported := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		state[id] = active
		stack = append(stack, id)
		for _, dep := range byID[id].req.DependsOn {
			if _, ok := byID[dep]; !ok {
				continue
			}
			switch state[dep] {
			case unvisited:
				visit(dep)
			case active:
				start := len(stack) - 1
				for stack[start] != dep {
					start--
				}
				cycle := append(append([]string(nil), stack[start:]...), dep)
				l.reportCycle(byID, cycle, reported)
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, e := range l.reqs {
		if byID[e.req.ID] == e && state[e.req.ID] == unvisited {
			visit(e.req.ID)
		}
	}
}

func (l *loader) reportCycle(byID map[string]*entry, cycle []string, reported map[string]bool) {
	members := append([]string(nil), cycle[:len(cycle)-1]...)
	sort.Strings(members)
	key := strings.Join(members, "\x00")
	if reported[key] {
		return
	}
	reported[key] = true
	// Start the cycle at its member written first in the spec.
	first := 0
	pos := map[*entry]int{}
	for i, e := range l.reqs {
		pos[e] = i
	}
	for i := range cycle[:len(cycle)-1] {
		if pos[byID[cycle[i]]] < pos[byID[cycle[first]]] {
			first = i
		}
	}
	n := len(cycle) - 1
	ordered := make([]string, 0, n+1)
	for i := 0; i <= n; i++ {
		ordered = append(ordered, cycle[(first+i)%n])
	}
	e := byID[ordered[0]]
	at := with(e.tokens, "depends_on")
	for i, dep := range e.req.DependsOn {
		if dep == ordered[1] {
			at = with(at, itoa(i))
			break
		}
	}
	l.problem(e.doc.loc(at, atValue), "dependency cycle: "+strings.Join(ordered, " -> "))
}
