package requirement

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/internal/specschema"
)

// Legacy templates: in the classic format, `when` and `condition.bool_expr` were Go templates
// such as {{repl ConfigOptionEquals "tier" "prod" }}. They are never evaluated; the loader
// refuses them with the CEL to write instead, translating the common forms.

// action matches one template action: {{repl ... }}, repl{{ ... }} or {{ ... }}.
var action = regexp.MustCompile(`(?s)(?:repl)?\{\{-?\s*(?:repl\s+)?(.*?)\s*-?\}\}`)

// legacyMessage is the message for a template found in field (when, expr or bool_expr).
func legacyMessage(src string, scope analyzer.Scope, field string) string {
	msg := fmt.Sprintf("%s holds a Go template, which is not evaluated; write CEL instead", field)
	if cel, ok := translateTemplate(src, scope); ok {
		return fmt.Sprintf("%s: %s", msg, cel)
	}
	if scope == analyzer.ScopeWhen {
		return msg + `, over vars, app (version, previous_version), phase ("install", "upgrade", "post-install" or "post-upgrade"), cluster and results; for example: vars.tier == "prod" && phase == "upgrade"`
	}
	return msg + `, over status_code, stdout, stderr, error, output (stdout as JSON), node, duration and the when variables (vars, app, phase, cluster, results); for example: status_code == 0 && stdout.trim() == "ok"`
}

// translateTemplate translates a whole template that is one action, or the classic
// {{repl if X}}true{{repl else}}false{{repl end}}, into CEL.
func translateTemplate(src string, scope analyzer.Scope) (string, bool) {
	locs := action.FindAllStringSubmatchIndex(src, -1)
	if len(locs) == 0 {
		return "", false
	}
	var acts, texts []string
	prev := 0
	for _, m := range locs {
		texts = append(texts, strings.TrimSpace(src[prev:m[0]]))
		acts = append(acts, src[m[2]:m[3]])
		prev = m[1]
	}
	texts = append(texts, strings.TrimSpace(src[prev:]))
	switch {
	case len(acts) == 1 && texts[0] == "" && texts[1] == "":
		return translateAction(acts[0], scope)
	case len(acts) == 3 && strings.HasPrefix(acts[0], "if ") && acts[1] == "else" && acts[2] == "end" && texts[0] == "" && texts[3] == "":
		cond, ok := translateAction(strings.TrimPrefix(acts[0], "if "), scope)
		if !ok {
			return "", false
		}
		switch {
		case texts[1] == "true" && texts[2] == "false":
			return cond, true
		case texts[1] == "false" && texts[2] == "true":
			return "!(" + cond + ")", true
		}
	case len(acts) == 2 && strings.HasPrefix(acts[0], "if ") && acts[1] == "end" && texts[0] == "" && texts[1] == "true" && texts[2] == "":
		return translateAction(strings.TrimPrefix(acts[0], "if "), scope)
	}
	return "", false
}

// translateAction translates the pipeline of one action.
func translateAction(s string, scope analyzer.Scope) (string, bool) {
	toks, ok := tokenize(s)
	if !ok {
		return "", false
	}
	p := &tparser{toks: toks, scope: scope}
	out, ok := p.call(true)
	if !ok || p.pos != len(p.toks) {
		return "", false
	}
	return out, true
}

// tokenize splits a template pipeline into words, quoted strings and parentheses.
func tokenize(s string) ([]string, bool) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '"' || c == '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c == '"' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()\"`", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, len(toks) > 0
}

// tparser translates template calls to CEL.
type tparser struct {
	toks  []string
	pos   int
	scope analyzer.Scope
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// vars returns the CEL for the config option named by a template string literal.
func varsRef(lit string) (string, bool) {
	name, err := strconv.Unquote(lit)
	if err != nil {
		return "", false
	}
	if identifier.MatchString(name) {
		return "vars." + name, true
	}
	return "vars[" + strconv.Quote(name) + "]", true
}

// call parses a function application (name args...) up to the end or a ")"; top says the
// result stands alone (a bare ConfigOption is then compared with "1", the classic true).
func (p *tparser) call(top bool) (string, bool) {
	if p.pos >= len(p.toks) {
		return "", false
	}
	name := p.toks[p.pos]
	var args []string
	if fn, ok := templateFuncs[name]; ok {
		p.pos++
		for p.pos < len(p.toks) && p.toks[p.pos] != ")" {
			a, ok := p.operand()
			if !ok {
				return "", false
			}
			args = append(args, a)
		}
		if name == "ConfigOption" && top && len(args) == 1 {
			name, fn = "ConfigOptionEquals", templateFuncs["ConfigOptionEquals"]
			args = append(args, `"1"`)
		}
		return fn(args)
	}
	return p.operand()
}

// operand parses a literal, a field of the output, or a parenthesised call.
func (p *tparser) operand() (string, bool) {
	if p.pos >= len(p.toks) {
		return "", false
	}
	t := p.toks[p.pos]
	p.pos++
	switch {
	case t == "(":
		out, ok := p.call(false)
		if !ok || p.pos >= len(p.toks) || p.toks[p.pos] != ")" {
			return "", false
		}
		p.pos++
		return out, true
	case strings.HasPrefix(t, `"`) || strings.HasPrefix(t, "`"):
		s, err := strconv.Unquote(t)
		if err != nil {
			return "", false
		}
		return strconv.Quote(s), true
	case t == "true" || t == "false":
		return t, true
	case t == ".StatusCode" || t == ".Result" || t == ".Error":
		if p.scope != analyzer.ScopeCondition {
			return "", false
		}
		return map[string]string{".StatusCode": "status_code", ".Result": "stdout", ".Error": "error"}[t], true
	case t == "IsUpgrade" || t == "IsInstall" || t == "Namespace":
		return templateFuncs[t](nil)
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return t, true
	}
	return "", false
}

// templateFuncs translates the template functions of classic specs, given CEL arguments.
var templateFuncs = map[string]func(args []string) (string, bool){
	"ConfigOptionEquals":    configCompare("=="),
	"ConfigOptionNotEquals": configCompare("!="),
	"ConfigOption": func(a []string) (string, bool) {
		if len(a) != 1 {
			return "", false
		}
		return varsRef(a[0])
	},
	"Namespace": func(a []string) (string, bool) { return "app.namespace", len(a) == 0 },
	"IsUpgrade": func(a []string) (string, bool) { return `phase == "upgrade"`, len(a) == 0 },
	"IsInstall": func(a []string) (string, bool) { return `phase == "install"`, len(a) == 0 },
	"eq":        compare("=="),
	"ne":        compare("!="),
	"lt":        compare("<"),
	"le":        compare("<="),
	"gt":        compare(">"),
	"ge":        compare(">="),
	"and":       join(" && "),
	"or":        join(" || "),
	"not": func(a []string) (string, bool) {
		if len(a) != 1 {
			return "", false
		}
		return "!" + paren(a[0]), true
	},
	"Trim": func(a []string) (string, bool) {
		if len(a) != 1 {
			return "", false
		}
		return paren(a[0]) + ".trim()", true
	},
}

func configCompare(op string) func([]string) (string, bool) {
	return func(a []string) (string, bool) {
		if len(a) != 2 {
			return "", false
		}
		v, ok := varsRef(a[0])
		if !ok {
			return "", false
		}
		return v + " " + op + " " + a[1], true
	}
}

func compare(op string) func([]string) (string, bool) {
	return func(a []string) (string, bool) {
		if len(a) != 2 {
			return "", false
		}
		return paren(a[0]) + " " + op + " " + paren(a[1]), true
	}
}

func join(op string) func([]string) (string, bool) {
	return func(a []string) (string, bool) {
		if len(a) < 2 {
			return "", false
		}
		parts := make([]string, len(a))
		for i, s := range a {
			parts[i] = paren(s)
		}
		return strings.Join(parts, op), true
	}
}

// paren wraps an operand holding an operator in parentheses, unless it is one already
// (wholly parenthesised, optionally negated).
func paren(s string) string {
	if !strings.ContainsAny(s, " !") || enclosed(strings.TrimPrefix(s, "!")) {
		return s
	}
	return "(" + s + ")"
}

// enclosed reports whether s is one parenthesised group, ignoring parentheses in strings.
func enclosed(s string) bool {
	if !strings.HasPrefix(s, "(") {
		return false
	}
	depth, quote := 0, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}

// Templates in command data and pod templates: never evaluated, refused with the K_expr key
// to write instead.

// generalValueAdvice is the advice for a template in data that has no direct translation.
const generalValueAdvice = "over vars, app (version, previous_version, namespace), phase, cluster and results, such as %s_expr: 'vars.%s'; to hand the command {{ }} as written (a docker or kubectl format), write the whole value as a CEL string, such as %s_expr: '\"{{.State.Running}}\"'"

// dataTemplateMessage is the message for the template s found at tokens (from the document's
// root, whose JSON value is root); pod says it is in a kind: Pod document.
func dataTemplateMessage(root any, tokens []string, s string, pod bool) string {
	what := "the command would get the text as written"
	if pod {
		what = "the pod would run with the text as written"
	}
	msg := fmt.Sprintf("holds a classic template, which is not evaluated (%s)", what)
	key, cel, ok := templateSuggestion(root, tokens, s)
	write := "write"
	if pod {
		write = "a pod template is used as written: to compute a field, put the pod inline in the requirement (data.kubernetes.pod) and write"
	}
	if key == "" {
		return msg + "; give the value as CEL in a key ending in _expr"
	}
	if ok {
		return fmt.Sprintf("%s; %s %s_expr: '%s'", msg, write, key, cel)
	}
	return fmt.Sprintf("%s; %s %s_expr, CEL %s", msg, write, key, fmt.Sprintf(generalValueAdvice, key, key, key))
}

// templateSuggestion returns the key to give as K_expr for the template s at tokens and, when
// the template translates, its CEL. A template in an element of a list of strings suggests the
// whole list.
func templateSuggestion(root any, tokens []string, s string) (key, cel string, ok bool) {
	if len(tokens) == 0 {
		return "", "", false
	}
	last := tokens[len(tokens)-1]
	if _, err := strconv.Atoi(last); err != nil {
		cel, ok := translateValue(s)
		return last, cel, ok
	}
	// An element of a list: the list is the value to compute.
	if len(tokens) < 2 {
		return "", "", false
	}
	key = tokens[len(tokens)-2]
	if _, err := strconv.Atoi(key); err == nil {
		return "", "", false
	}
	list, _ := specschema.ValueAt(root, tokens[:len(tokens)-1]).([]any)
	parts := make([]string, len(list))
	for i, e := range list {
		str, isString := e.(string)
		switch {
		case !isString:
			return key, "", false
		case action.MatchString(str):
			c, ok := translateValue(str)
			if !ok {
				return key, "", false
			}
			if !strings.HasPrefix(c, `"`) && !strings.HasPrefix(c, "string(") {
				c = "string(" + c + ")" // a list literal's elements must have one type
			}
			parts[i] = c
		default:
			parts[i] = strconv.Quote(str)
		}
	}
	return key, "[" + strings.Join(parts, ", ") + "]", true
}

// translateValue translates a string holding templates into a CEL value: one action alone
// becomes its CEL ({{repl ConfigOption "data_dir"}} is vars.data_dir, {{repl Namespace}} is
// app.namespace), text around actions joins them as strings.
func translateValue(src string) (string, bool) {
	locs := action.FindAllStringSubmatchIndex(src, -1)
	if len(locs) == 0 {
		return "", false
	}
	var parts []string
	prev := 0
	for _, m := range locs {
		if text := src[prev:m[0]]; text != "" {
			parts = append(parts, strconv.Quote(text))
		}
		toks, ok := tokenize(src[m[2]:m[3]])
		if !ok {
			return "", false
		}
		p := &tparser{toks: toks, scope: analyzer.ScopeWhen}
		out, ok := p.call(false)
		if !ok || p.pos != len(p.toks) {
			return "", false
		}
		if len(locs) > 1 || m[0] > 0 || m[1] < len(src) {
			out = "string(" + out + ")"
		}
		parts = append(parts, out)
		prev = m[1]
	}
	if text := src[prev:]; text != "" {
		parts = append(parts, strconv.Quote(text))
	}
	return strings.Join(parts, " + "), true
}
