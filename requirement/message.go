package requirement

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// message loads a message: a string, or {id, default_message, args}. The analyzer validates
// it (every {{.name}} placeholder names an arg; args and text use only the supported
// template forms); each of its problems is placed at the arg or text it concerns.
func (l *loader) message(d *document, tokens []string, v any) Message {
	var msg Message
	textAt := tokens
	switch x := v.(type) {
	case string:
		msg.Text = x
	case map[string]any:
		msg.ID, _ = x["id"].(string)
		msg.Text, _ = x["default_message"].(string)
		textAt = with(tokens, "default_message")
		args, _ := x["args"].(map[string]any)
		if len(args) > 0 {
			msg.Args = make(map[string]string, len(args))
		}
		for k, a := range args {
			if s, ok := a.(string); ok {
				msg.Args[k] = s
			}
		}
	default:
		return msg
	}
	if d.isFlagged(tokens) || !strings.Contains(msg.Text, "{{") && !argsHaveTemplates(msg.Args) {
		return msg
	}
	for _, err := range unjoin(msg.validate()) {
		text := err.Error()
		at := textAt
		if m := argError.FindStringSubmatch(text); m != nil {
			at, text = with(tokens, "args", m[1]), m[2]
		}
		l.problem(d.loc(at, atValue), text)
	}
	return msg
}

var argError = regexp.MustCompile(`(?s)^args\.([^:]+): (.*)$`)

func argsHaveTemplates(args map[string]string) bool {
	for _, a := range args {
		if strings.Contains(a, "{{") {
			return true
		}
	}
	return false
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// exprPosition maps a 1-based line and column inside an expression to the spec file, given
// the YAML scalar that holds the expression.
func (d *document) exprPosition(n *yaml.Node, line, col int) (int, int) {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The text starts on the line after the | or > indicator, at its indentation.
		first := n.Line + 1
		indent := 0
		for _, c := range d.src.line(first) {
			if c != ' ' {
				break
			}
			indent++
		}
		if n.Style == yaml.FoldedStyle {
			return first, indent + col // folded lines are joined: approximate
		}
		return first + line - 1, indent + col
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + col // after the opening quote
		}
		return n.Line + line - 1, col
	default:
		if line == 1 {
			return n.Line, n.Column + col - 1
		}
		return n.Line + line - 1, col
	}
}
