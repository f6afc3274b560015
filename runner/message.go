package runner

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
)

// placeholder matches {{.name}} (spaces allowed) in a message's text.
var placeholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// classic matches the classic argument templates {{repl .StatusCode }}, {{repl .Result }},
// {{repl .Error }} and {{repl Trim .Result }}.
var classic = regexp.MustCompile(`\{\{\s*repl\s+(Trim\s+)?\.(StatusCode|Result|Error)\s*\}\}`)

// renderMessage renders a requirement's message or details: the {{.name}} placeholders of
// the text take their Args values, whose classic templates read in (nil: they render empty,
// as for messages shown before any command ran).
func renderMessage(m analyzer.Message, in *analyzer.Input) string {
	if len(m.Args) == 0 {
		return m.Text
	}
	return placeholder.ReplaceAllStringFunc(m.Text, func(p string) string {
		name := placeholder.FindStringSubmatch(p)[1]
		arg, ok := m.Args[name]
		if !ok {
			return p
		}
		return classic.ReplaceAllStringFunc(arg, func(t string) string {
			if in == nil {
				return ""
			}
			sub := classic.FindStringSubmatch(t)
			var v string
			switch sub[2] {
			case "StatusCode":
				v = strconv.Itoa(in.StatusCode)
			case "Result":
				v = in.Stdout
			case "Error":
				v = in.Error
			}
			if sub[1] != "" {
				v = strings.TrimSpace(v)
			}
			return v
		})
	})
}
