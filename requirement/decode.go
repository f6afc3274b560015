package requirement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/specschema"
)

// The structure of a requirements document (types, required and unknown fields, enums) is
// checked by the schema, which runs first; the code below reads what it holds, skips what is
// malformed (the schema has reported it) and checks what the schema cannot: CEL, templates,
// messages, durations, command data (through each command's Prepare), ids and depends_on.

// with returns tokens followed by more, in a new slice.
func with(tokens []string, more ...string) []string {
	out := make([]string, 0, len(tokens)+len(more))
	return append(append(out, tokens...), more...)
}

// requirement loads one requirement.
func (l *loader) requirement(d *document, tokens []string, m map[string]any) {
	r := &Requirement{Location: d.loc(tokens, atValue)}
	r.ID, _ = m["id"].(string)
	r.Message = l.message(d, with(tokens, "message"), m["message"])
	r.Details = l.message(d, with(tokens, "details"), m["details"])
	if src, ok := exprSource(m["when"]); ok {
		r.When = l.expr(d, with(tokens, "when"), src, analyzer.ScopeWhen)
	}
	r.Strict, _ = m["strict"].(bool)
	if tags, _ := m["tags"].([]any); len(tags) > 0 {
		l.problem(d.loc(with(tokens, "tags"), atValue), "not supported yet: tags choose the nodes that run the check; use a scheduler command with node_selector on the nodes' labels")
	}
	if cm, ok := m["command"].(map[string]any); ok {
		r.Command = l.command(d, with(tokens, "command"), cm)
	}
	scope := analyzer.ScopeCondition
	if r.Command.SecretValues {
		scope = analyzer.ScopeSecretsCondition
	}
	results, _ := m["results"].([]any)
	for i, v := range results {
		if rm, ok := v.(map[string]any); ok {
			r.Results = append(r.Results, l.result(d, with(tokens, "results", itoa(i)), rm, scope))
		}
	}
	if rm, ok := m["retry"].(map[string]any); ok {
		r.Retry = l.retry(d, with(tokens, "retry"), rm)
	}
	deps, _ := m["depends_on"].([]any)
	for _, v := range deps {
		if s, ok := v.(string); ok {
			r.DependsOn = append(r.DependsOn, s)
		}
	}
	l.reqs = append(l.reqs, &entry{req: r, doc: d, tokens: tokens})
}

// command loads a requirement's command: its timeout, its data and what the command's
// implementation makes of the data.
func (l *loader) command(d *document, tokens []string, m map[string]any) Command {
	c := Command{Timeout: DefaultTimeout}
	c.ID, _ = m["id"].(string)
	if n, ok := m["timeout"].(json.Number); ok && !d.isFlagged(with(tokens, "timeout")) {
		// The schema checked that it is a whole number, -1 or above 0; a number too large for
		// an int64 (99999999999999999999, 1e30) must not fall back to the default.
		secs, err := n.Int64()
		switch {
		case err == nil && secs == -1:
			c.Timeout = 0
		case err == nil && secs > 0 && secs <= math.MaxInt64/int64(time.Second):
			c.Timeout = time.Duration(secs) * time.Second
		default:
			l.problem(d.loc(with(tokens, "timeout"), atValue), fmt.Sprintf(
				"is out of range: the longest timeout is %d seconds (292 years); use -1 for no timeout", math.MaxInt64/int64(time.Second)))
		}
	}
	for _, k := range classicImageKeys {
		if _, ok := m[k]; ok {
			l.problem(d.loc(with(tokens, k), atKey), fmt.Sprintf(
				"%s is not supported: classic commands could run in an image of the vendor's (source, image_name, tag, version, content_trust); run the check in that image with a scheduler command and an inline pod (data.kubernetes.pod)", k))
		}
	}
	data, hasData := m["data"]
	if hasData {
		raw, err := json.Marshal(data)
		if err == nil {
			c.Data = raw
		}
	}
	if c.ID == "" || d.isFlagged(with(tokens, "id")) {
		return c
	}
	impl, ok := l.reg.Lookup(c.ID)
	if !ok {
		ids := l.reg.IDs()
		msg := fmt.Sprintf("unknown command %q", c.ID)
		if s := specschema.Suggest(c.ID, ids); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		msg += "; registered commands: " + strings.Join(ids, ", ")
		l.problem(d.loc(with(tokens, "id"), atValue), msg)
		return c
	}
	if d.isFlagged(with(tokens, "data")) {
		return c // the schema reported what is wrong with data; Prepare would repeat it
	}
	c.SecretValues = readsSecretValues(impl, c.Data)
	values, static, ok := l.dataValues(d, with(tokens, "data"), data, impl)
	if !ok {
		return c
	}
	if len(values) > 0 {
		c.values, c.static, c.impl = values, static, impl
		l.precheck(d, with(tokens, "data"), &c, static)
		return c
	}
	prepared, err := prepare(impl, c.Data, command.SpecContext{Pods: l.pods})
	if err != nil {
		for _, e := range dataErrors(err) {
			at := with(tokens, "data")
			if !hasData {
				at = tokens
			}
			msg := e.Error()
			var fe *field.Error
			if errors.As(e, &fe) {
				msg = fe.Detail
				if fe.Type == field.ErrorTypeRequired {
					msg = "required: " + msg
				}
				if hasData {
					at = with(tokens, fieldTokens(fe.Field)...)
				}
			}
			l.problem(d.loc(at, atValue), fmt.Sprintf("command %s: %s", c.ID, msg))
		}
		return c
	}
	c.Prepared = prepared
	return c
}

// dataErrors flattens what a command's Prepare returned: an aggregate
// (field.ErrorList.ToAggregate) or a join of errors, each reported on its own.
func dataErrors(err error) []error {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		var out []error
		for _, e := range agg.Errors() {
			out = append(out, dataErrors(e)...)
		}
		return out
	}
	return unjoin(err)
}

// prepare calls a command's Prepare, turning a panic of a caller-registered command into an
// error: a broken command fails the load, it does not crash the caller.
func prepare(c command.Command, data json.RawMessage, sc command.SpecContext) (p command.Prepared, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("preparing the command panicked: %v", r)
		}
	}()
	p, err = c.Prepare(data, sc)
	if err == nil && p == nil {
		err = fmt.Errorf("the command's Prepare returned nothing to run")
	}
	return p, err
}

// result loads one result; scope is the scope of its conditions and message_expr.
func (l *loader) result(d *document, tokens []string, m map[string]any, scope analyzer.Scope) Result {
	var r Result
	s, _ := m["status"].(string)
	r.Status = Status(s)
	r.Message = l.message(d, with(tokens, "message"), m["message"])
	if src, ok := m["message_expr"].(string); ok {
		r.MessageExpr = l.valueExpr(d, with(tokens, "message_expr"), src, scope, []reflect.Type{reflect.TypeOf("")})
	}
	cm, ok := m["condition"].(map[string]any)
	if !ok {
		return r
	}
	var c Condition
	set := false
	if n, ok := statusCode(cm["status_code"]); ok {
		if code, err := n.Int64(); err == nil && code >= math.MinInt32 && code <= math.MaxInt32 {
			v := int(code)
			c.StatusCode, set = &v, true
		} else {
			l.problem(d.loc(with(tokens, "condition", "status_code"), atValue), "is out of range for a status code")
		}
	}
	if b, ok := cm["error"].(bool); ok {
		c.Error, set = &b, true
	}
	for _, key := range []string{"expr", "bool_expr"} {
		if src, ok := exprSource(cm[key]); ok {
			c.Expr, set = l.expr(d, with(tokens, "condition", key), src, scope), true
		}
	}
	if set {
		r.Condition = &c
	}
	return r
}

// retry loads a requirement's retry.
func (l *loader) retry(d *document, tokens []string, m map[string]any) *Retry {
	r := &Retry{Until: StatusSuccess}
	duration := func(key string) (time.Duration, bool) {
		s, ok := m[key].(string)
		if !ok || d.isFlagged(with(tokens, key)) {
			return 0, false
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			l.problem(d.loc(with(tokens, key), atValue), "must be a duration such as 5s, 10m or 1h30m: "+err.Error())
			return 0, false
		}
		return v, true
	}
	interval, okInterval := duration("interval")
	timeout, okTimeout := duration("timeout")
	r.Interval, r.Timeout = interval, timeout
	if okInterval && interval <= 0 {
		l.problem(d.loc(with(tokens, "interval"), atValue), "must be longer than 0")
	}
	if okInterval && okTimeout && interval > 0 && timeout <= interval {
		l.problem(d.loc(with(tokens, "timeout"), atValue), fmt.Sprintf("must be longer than interval (%s)", interval))
	}
	if s, ok := m["until"].(string); ok {
		r.Until = Status(s)
	}
	if n, ok := m["failure_limit"].(json.Number); ok && !d.isFlagged(with(tokens, "failure_limit")) {
		if v, err := n.Int64(); err == nil && v >= 0 && v <= math.MaxInt32 {
			r.FailureLimit = int(v)
		} else {
			// Negative numbers are the schema's to report; too large ones, even beyond an
			// int64, must not be dropped.
			l.problem(d.loc(with(tokens, "failure_limit"), atValue), fmt.Sprintf("is out of range: the largest failure_limit is %d", math.MaxInt32))
		}
	}
	return r
}

// classicImageKeys are the classic command's keys that chose an image to run it in.
var classicImageKeys = []string{"source", "image_name", "tag", "version", "content_trust"}

// exprSource returns the text of a bool expression: a string, or the bare YAML bool the
// classic format accepted (when: true, bool_expr: false).
func exprSource(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// statusCode returns a condition's status_code: a number, or a string holding an integer as
// the classic format accepted ("0"); the schema refused anything else.
func statusCode(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		return x, true
	case string:
		if _, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return json.Number(strings.TrimSpace(x)), true
		}
	}
	return "", false
}

// expr checks and compiles a CEL expression: legacy templates first, then the compiler (which
// also bounds its length), whose issues are positioned in the spec's file.
func (l *loader) expr(d *document, tokens []string, src string, scope analyzer.Scope) *analyzer.Expression {
	if d.isFlagged(tokens) {
		return nil
	}
	if action.MatchString(src) {
		l.problem(d.loc(tokens, atValue), legacyMessage(src, scope, tokens[len(tokens)-1]))
		return nil
	}
	return l.compiled(d, tokens, src, scope, nil)
}

// valueExpr checks and compiles an expression whose value is data of one of types (a K_expr
// key, a message_expr). A template that is not CEL gets the legacy message; one inside a CEL
// string literal is the value's own text.
func (l *loader) valueExpr(d *document, tokens []string, src string, scope analyzer.Scope, types []reflect.Type) *analyzer.Expression {
	if d.isFlagged(tokens) {
		return nil
	}
	if action.MatchString(src) {
		if _, err := l.compile(src, scope, types); err != nil {
			field := tokens[len(tokens)-1]
			msg := fmt.Sprintf("%s holds a classic template, which is not evaluated; write CEL", field)
			if cel, ok := translateValue(src); ok {
				msg += ": " + cel
			}
			l.problem(d.loc(tokens, atValue), msg)
			return nil
		}
	}
	return l.compiled(d, tokens, src, scope, types)
}

// compiled compiles src and reports its issues, positioned in the spec's file.
func (l *loader) compiled(d *document, tokens []string, src string, scope analyzer.Scope, types []reflect.Type) *analyzer.Expression {
	e, err := l.compile(src, scope, types)
	if err == nil {
		return e
	}
	issues := exprIssues(err)
	if len(issues) == 0 {
		l.problem(d.loc(tokens, atValue), "invalid CEL: "+err.Error())
		return nil
	}
	base := d.loc(tokens, atValue)
	_, n, _ := resolve(d.root, tokens)
	for _, is := range issues {
		loc := base
		if n != nil {
			loc.Line, loc.Column = d.exprPosition(n, is.Line, is.Column)
		}
		l.add(Problem{Location: loc, Message: is.Message, Snippet: is.Snippet})
	}
	return nil
}

// compiled is the outcome of compiling one expression text in one scope.
type compiled struct {
	expr *analyzer.Expression
	err  error
}

type exprKey struct {
	src   string
	scope analyzer.Scope
	types string // the value types, "" for a bool expression
}

// compile compiles src once per load: specs repeat expressions (status_code == 0), and a
// compiled Expression is immutable and safe to share. types nil compiles a bool expression.
func (l *loader) compile(src string, scope analyzer.Scope, types []reflect.Type) (*analyzer.Expression, error) {
	k := exprKey{src: src, scope: scope}
	for _, t := range types {
		k.types += t.String() + "|"
	}
	if c, ok := l.exprs[k]; ok {
		return c.expr, c.err
	}
	// expressionsWithinLimits counted the expressions before decoding; this stops compiling
	// at the limit should an expression reach here that it did not count.
	if !tooLong(src) && (l.exprCount >= l.limits.MaxExpressions || l.exprBytes+compileWeight(src) > l.limits.MaxExpressionBytes) {
		return nil, fmt.Errorf("not compiled: the spec's distinct CEL expressions are past the limits (Limits.MaxExpressions %d, Limits.MaxExpressionBytes %d)",
			l.limits.MaxExpressions, l.limits.MaxExpressionBytes)
	}
	var e *analyzer.Expression
	var err error
	if types == nil {
		e, err = analyzer.Compile(src, scope)
	} else {
		e, err = analyzer.CompileValue(src, scope, types...)
	}
	if l.exprs == nil {
		l.exprs = map[exprKey]compiled{}
	}
	l.exprs[k] = compiled{e, err}
	if !tooLong(src) {
		l.exprCount++
		l.exprBytes += compileWeight(src)
	}
	return e, err
}

// exprIssues returns the issues of a compile error, if it is (or wraps) an *analyzer.ExprError.
func exprIssues(err error) []analyzer.Issue {
	var x *analyzer.ExprError
	if errors.As(err, &x) {
		return x.Issues
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
