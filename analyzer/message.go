package analyzer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxMessageBytes caps a rendered message, so that a huge stdout quoted through
// {{repl .Result }} cannot blow up a decision.
const MaxMessageBytes = 4 << 10

// SupportedTemplates lists the template forms a message may use, for error messages and docs.
const SupportedTemplates = "{{ .name }} placeholders filled from args, and {{repl .StatusCode }}, {{repl .Result }} (stdout), {{repl .Error }}, {{repl Trim .Result }} (stdout without surrounding white space)"

var (
	// anyTemplate matches one {{...}} (on any number of lines).
	anyTemplate = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	// placeholderTemplate matches {{.name}}.
	placeholderTemplate = regexp.MustCompile(`^\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)
	// classicTemplate matches the classic forms {{repl .StatusCode }}, {{repl Trim .Result }}...
	classicTemplate = regexp.MustCompile(`^\{\{\s*repl\s+(?:(Trim)\s+)?\.(StatusCode|Result|Error)\s*\}\}$`)
)

// Render returns the message with its placeholders filled: {{ .name }} from Args, the classic
// {{repl ...}} forms (in Text or in an arg) from in, which may be nil (they are then empty).
// Templates are never executed: this is a plain substitution of the supported forms, and
// anything else stays as written. The result is at most MaxMessageBytes long.
func (m Message) Render(in *Input) string {
	if !strings.Contains(m.Text, "{{") {
		return truncate(m.Text, MaxMessageBytes)
	}
	w := &cappedWriter{limit: MaxMessageBytes}
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

// Validate reports the message's problems: a placeholder with no arg, a template form that is
// not supported (in Text or in an arg), an unclosed {{. The loader calls it at load time.
func (m Message) Validate() error {
	var errs []error
	for _, tmpl := range templates(m.Text, &errs, "") {
		if name, ok := placeholder(tmpl); ok {
			if _, ok := m.Args[name]; !ok {
				errs = append(errs, fmt.Errorf("%s has no value: args has no %q%s", tmpl, name, argNames(m.Args)))
			}
			continue
		}
		if !classicTemplate.MatchString(tmpl) {
			errs = append(errs, fmt.Errorf("unsupported template %s: supported are %s", tmpl, SupportedTemplates))
		}
	}
	names := make([]string, 0, len(m.Args))
	for name := range m.Args {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, tmpl := range templates(m.Args[name], &errs, "args."+name+": ") {
			if !classicTemplate.MatchString(tmpl) {
				errs = append(errs, fmt.Errorf("args.%s: unsupported template %s: an arg may use %s", name, tmpl, classicForms))
			}
		}
	}
	return errors.Join(errs...)
}

const classicForms = "{{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}"

// templates returns the {{...}} of s, and records an unclosed {{ in errs.
func templates(s string, errs *[]error, prefix string) []string {
	found := anyTemplate.FindAllString(s, -1)
	if rest := anyTemplate.ReplaceAllString(s, ""); strings.Contains(rest, "{{") {
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

func placeholder(tmpl string) (string, bool) {
	if m := placeholderTemplate.FindStringSubmatch(tmpl); m != nil {
		return m[1], true
	}
	return "", false
}

// classic writes the value of a classic {{repl ...}} form and reports whether tmpl was one.
func classic(w *cappedWriter, tmpl string, in *Input) bool {
	m := classicTemplate.FindStringSubmatch(tmpl)
	if m == nil {
		return false
	}
	if in == nil {
		return true
	}
	var v string
	switch m[2] {
	case "StatusCode":
		v = strconv.Itoa(in.StatusCode)
	case "Result":
		v = in.Stdout
	case "Error":
		v = in.Error
	}
	if m[1] == "Trim" {
		v = strings.TrimSpace(v)
	}
	w.WriteString(v)
	return true
}

// substitute copies s to w, replacing each {{...}} through fill; a template fill does not
// handle is copied as written.
func substitute(w *cappedWriter, s string, fill func(*cappedWriter, string) bool) {
	for !w.full() {
		loc := anyTemplate.FindStringIndex(s)
		if loc == nil {
			w.WriteString(s)
			return
		}
		w.WriteString(s[:loc[0]])
		if tmpl := s[loc[0]:loc[1]]; !fill(w, tmpl) {
			w.WriteString(tmpl)
		}
		s = s[loc[1]:]
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
