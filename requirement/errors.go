package requirement

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"
)

// maxProblems bounds how many problems one load reports; the rest are counted.
const maxProblems = 200

// Error prints every problem, one a line, as "file:line:col: path: message", sorted by file
// (in the order the sources were given), line and column, then how many were left out. A problem with a Snippet (a CEL expression) is followed by the snippet,
// indented under the line.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n... and %d more %s not shown (%d in all)", e.Omitted,
			map[bool]string{true: "problem", false: "problems"}[e.Omitted == 1], e.Count())
	}
	return b.String()
}

// Count is how many problems the spec has: those listed and those left out.
func (e *Error) Count() int { return len(e.Problems) + e.Omitted }

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

// problems collects the problems of one load. It keeps the maxProblems first by position
// (file in the order the sources were given, then line and column, then the order they were
// found) in a bounded heap, so that a spec with a million problems costs no more memory than
// one with 200, and counts the rest exactly.
type problems struct {
	kept    problemHeap
	seq     int            // problems added so far: the tie-break between equal positions
	order   map[string]int // file name -> index of its source
	dropped int
}

// setOrder records the order of the sources, by which problems of different files sort.
func (ps *problems) setOrder(names []string) {
	ps.order = make(map[string]int, len(names))
	for i, n := range names {
		if _, ok := ps.order[n]; !ok {
			ps.order[n] = i
		}
	}
}

func (ps *problems) add(p Problem) {
	ps.seq++
	it := keptProblem{Problem: p, seq: ps.seq, file: ps.fileIndex(p.Location.File)}
	if len(ps.kept) < maxProblems {
		heap.Push(&ps.kept, it)
		return
	}
	ps.dropped++
	if it.before(ps.kept[0]) {
		// The new problem comes before the last one kept: it takes that one's place.
		ps.kept[0] = it
		heap.Fix(&ps.kept, 0)
	}
}

// fileIndex is the position of file among the sources; a file that is not a source (none
// is, today) sorts after them.
func (ps *problems) fileIndex(file string) int {
	if i, ok := ps.order[file]; ok {
		return i
	}
	return len(ps.order)
}

// err returns the collected problems as an *Error, sorted by position, or nil when there are
// none.
func (ps *problems) err() error {
	if len(ps.kept) == 0 {
		return nil
	}
	kept := append(problemHeap(nil), ps.kept...)
	sort.Slice(kept, func(i, j int) bool { return kept[i].before(kept[j]) })
	list := make([]Problem, len(kept))
	for i, k := range kept {
		list[i] = k.Problem
	}
	return &Error{Problems: list, Omitted: ps.dropped}
}

// keptProblem is a problem with what orders it.
type keptProblem struct {
	Problem
	file int // index of its source
	seq  int // order of discovery
}

// before orders problems by file (in source order), line, column, then discovery.
func (a keptProblem) before(b keptProblem) bool {
	if a.file != b.file {
		return a.file < b.file
	}
	if a.Location.File != b.Location.File { // files that are not sources: by name
		return a.Location.File < b.Location.File
	}
	if a.Location.Line != b.Location.Line {
		return a.Location.Line < b.Location.Line
	}
	if a.Location.Column != b.Location.Column {
		return a.Location.Column < b.Location.Column
	}
	return a.seq < b.seq
}

// problemHeap is a max-heap: its root is the last problem kept, the first to give way.
type problemHeap []keptProblem

func (h problemHeap) Len() int           { return len(h) }
func (h problemHeap) Less(i, j int) bool { return h[j].before(h[i]) }
func (h problemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *problemHeap) Push(x any)        { *h = append(*h, x.(keptProblem)) }
func (h *problemHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
