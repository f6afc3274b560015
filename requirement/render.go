package requirement

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
)

// maxMessageBytes caps a rendered message, so that a huge stdout quoted through
// {{repl .Result }} cannot blow up a decision.
const maxMessageBytes = 4 << 10

// supportedTemplates lists the template forms a message may use, for error messages and docs.
const supportedTemplates = "{{ .name }} placeholders filled from args, and {{repl .StatusCode }}, {{repl .Result }} (stdout), {{repl .Error }}, {{repl Trim .Result }} (stdout without surrounding white space)"

// nextTemplate finds the first {{...}} of s: its start and end, or -1 when there is none.
func nextTemplate(s string) (start, end int) {
	start = strings.Index(s, "{{")
	if start < 0 {
		return -1, -1
	}
	n := strings.Index(s[start+2:], "}}")
	if n < 0 {
		return -1, -1
	}
	return start, start + 2 + n + 2
}

// placeholder returns the name of a {{ .name }} template.
func placeholder(tmpl string) (string, bool) {
	f := strings.Fields(tmpl[2 : len(tmpl)-2])
	if len(f) != 1 || len(f[0]) < 2 || f[0][0] != '.' || !isIdent(f[0][1:]) {
		return "", false
	}
	return f[0][1:], true
}

// classicField returns the field of a classic {{repl [Trim] .Field }} template, and whether
// it is trimmed.
func classicField(tmpl string) (field string, trim, ok bool) {
	f := strings.Fields(tmpl[2 : len(tmpl)-2])
	if len(f) < 2 || f[0] != "repl" {
		return "", false, false
	}
	f = f[1:]
	if len(f) == 2 && f[0] == "Trim" {
		trim, f = true, f[1:]
	}
	if len(f) != 1 {
		return "", false, false
	}
	switch f[0] {
	case ".StatusCode", ".Result", ".Error":
		return f[0][1:], trim, true
	}
	return "", false, false
}

func isIdent(s string) bool {
	for i, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && (i == 0 || !('0' <= r && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// Render returns the message with its placeholders filled: {{ .name }} from Args, the classic
// {{repl ...}} forms (in Text or in an arg) from in, which may be nil (they are then empty).
// Templates are never executed: this is a plain substitution of the supported forms, and
// anything else stays as written. The result is at most maxMessageBytes long.
func (m Message) Render(in *analyzer.Input) string {
	if !strings.Contains(m.Text, "{{") {
		return truncate(m.Text, maxMessageBytes)
	}
	w := &cappedWriter{limit: maxMessageBytes}
	substitute(w, m.Text, func(w *cappedWriter, tmpl string) bool {
		if name, ok := placeholder(tmpl); ok {
			if v, ok := m.Args[name]; ok {
				substitute(w, v, func(w *cappedWriter, tmpl string) bool { return classic(w, tmpl, in) })
				return true
			}
			return false
		}
		return classic(w, tmpl, in)
	})
	return w.String()
}

// validate reports the message's problems: a placeholder with no arg, a template form that is
// not supported (in Text or in an arg), an unclosed {{. The loader calls it at load time.
func (m Message) validate() error {
	var errs []error
	for _, tmpl := range templates(m.Text, &errs, "") {
		if name, ok := placeholder(tmpl); ok {
			if _, ok := m.Args[name]; !ok {
				errs = append(errs, fmt.Errorf("%s has no value: args has no %q%s", tmpl, name, argNames(m.Args)))
			}
			continue
		}
		if _, _, ok := classicField(tmpl); !ok {
			errs = append(errs, fmt.Errorf("unsupported template %s: supported are %s", tmpl, supportedTemplates))
		}
	}
	names := make([]string, 0, len(m.Args))
	for name := range m.Args {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, tmpl := range templates(m.Args[name], &errs, "args."+name+": ") {
			if _, _, ok := classicField(tmpl); !ok {
				errs = append(errs, fmt.Errorf("args.%s: unsupported template %s: an arg may use %s", name, tmpl, classicForms))
			}
		}
	}
	return errors.Join(errs...)
}

const classicForms = "{{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}"

// templates returns the {{...}} of s, and records an unclosed {{ in errs.
func templates(s string, errs *[]error, prefix string) []string {
	var found []string
	for {
		start, end := nextTemplate(s)
		if start < 0 {
			break
		}
		found = append(found, s[start:end])
		s = s[end:]
	}
	if strings.Contains(s, "{{") {
		*errs = append(*errs, fmt.Errorf("%s{{ is not closed with }}", prefix))
	}
	return found
}

func argNames(args map[string]string) string {
	if len(args) == 0 {
		return " (args is empty)"
	}
	names := make([]string, 0, len(args))
	for n := range args {
		names = append(names, n)
	}
	slices.Sort(names)
	return " (args has " + strings.Join(names, ", ") + ")"
}

// classic writes the value of a classic {{repl ...}} form and reports whether tmpl was one.
func classic(w *cappedWriter, tmpl string, in *analyzer.Input) bool {
	field, trim, ok := classicField(tmpl)
	if !ok {
		return false
	}
	if in == nil {
		return true
	}
	var v string
	switch field {
	case "StatusCode":
		v = strconv.Itoa(in.StatusCode)
	case "Result":
		v = in.Stdout
	case "Error":
		v = in.Error
	}
	if trim {
		v = strings.TrimSpace(v)
	}
	w.WriteString(v)
	return true
}

// substitute copies s to w, replacing each {{...}} through fill; a template fill does not
// handle is copied as written.
func substitute(w *cappedWriter, s string, fill func(*cappedWriter, string) bool) {
	for !w.full() {
		start, end := nextTemplate(s)
		if start < 0 {
			w.WriteString(s)
			return
		}
		w.WriteString(s[:start])
		if tmpl := s[start:end]; !fill(w, tmpl) {
			w.WriteString(tmpl)
		}
		s = s[end:]
	}
}

// cappedWriter collects at most limit bytes and marks a cut with an ellipsis.
type cappedWriter struct {
	b     strings.Builder
	limit int
	cut   bool
}

func (w *cappedWriter) full() bool { return w.cut }

func (w *cappedWriter) WriteString(s string) {
	if w.cut {
		return
	}
	if room := w.limit - w.b.Len(); len(s) > room {
		w.b.WriteString(truncate(s, room))
		w.cut = true
		return
	}
	w.b.WriteString(s)
}

func (w *cappedWriter) String() string { return w.b.String() }
