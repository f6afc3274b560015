package requirement

import (
	"fmt"
	"sort"
	"strings"
)

// maxProblems bounds how many problems one load reports; the rest are counted.
const maxProblems = 200

// Error prints every problem, one a line, as "file:line:col: path: message", sorted by file,
// line and column. A problem with a Snippet (a CEL expression) is followed by the snippet,
// indented under the line.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// String formats the problem as "file:line:col: path: message", then its snippet, if any,
// indented by four spaces.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Location.String())
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Snippet != "" {
		for _, line := range strings.Split(strings.TrimRight(p.Snippet, "\n"), "\n") {
			b.WriteString("\n    ")
			b.WriteString(line)
		}
	}
	return b.String()
}

// String formats the location as "file:line:col: path", leaving out what is unknown.
func (l Location) String() string {
	var b strings.Builder
	b.WriteString(l.File)
	if l.Line > 0 {
		fmt.Fprintf(&b, ":%d", l.Line)
		if l.Column > 0 {
			fmt.Fprintf(&b, ":%d", l.Column)
		}
	}
	if l.Path != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(l.Path)
	}
	return b.String()
}

// problems collects the problems of one load.
type problems struct {
	list    []Problem
	dropped int
}

func (ps *problems) add(p Problem) {
	if len(ps.list) >= maxProblems {
		ps.dropped++
		return
	}
	ps.list = append(ps.list, p)
}

// err returns the collected problems as an *Error, sorted, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Location, list[j].Location
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	if ps.dropped > 0 {
		list = append(list, Problem{Message: fmt.Sprintf("%d more problems not shown", ps.dropped)})
	}
	return &Error{Problems: list}
}
