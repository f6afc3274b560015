package requirement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/readctx"
	"github.com/preflightkit/preflight/internal/specschema"
)

// loader holds the state of one load.
type loader struct {
	ctx    context.Context
	limits Limits
	reg    *command.Registry
	problems

	pods    map[string]*corev1.Pod
	podLocs map[string]Location
	reqs    []*entry // every requirement, in spec order
	exprs   map[exprKey]compiled
	// exprCount and exprBytes are what the expressions compiled so far count against
	// Limits.MaxExpressions and Limits.MaxExpressionBytes (compileWeight); those the
	// compiler refuses as too long count nothing.
	exprCount, exprBytes int
	notes                []Problem
	// incomplete is set when part of the spec could not be read (a YAML syntax error, a
	// limit): ids it may hold are unknown, so depends_on is not checked against them.
	incomplete bool
	// stray is set when a document is neither requirements nor a Pod: that problem already
	// says that requirements are expected.
	stray bool
}

// entry is a loaded requirement and where it was written.
type entry struct {
	req    *Requirement
	doc    *document
	tokens []string
}

func (l *loader) problem(loc Location, msg string) {
	l.add(Problem{Location: loc, Message: msg})
}

func newLoader(ctx context.Context, opts LoadOptions) *loader {
	reg := opts.Registry
	if reg == nil {
		reg = command.Builtins()
	}
	return &loader{
		ctx:     ctx,
		limits:  opts.Limits.withDefaults(),
		reg:     reg,
		pods:    map[string]*corev1.Pod{},
		podLocs: map[string]Location{},
	}
}

// errNoSources is returned when a load is given nothing to load: an empty gate would pass
// without checking anything.
var errNoSources = errors.New("loading spec: no spec given")

func load(ctx context.Context, opts LoadOptions, sources []Source) (*Spec, error) {
	if len(sources) == 0 {
		return nil, errNoSources
	}
	l := newLoader(ctx, opts)
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("<source %d>", i+1)
		}
	}
	srcs := make([]*source, 0, len(sources))
	remaining := l.limits.MaxBytes
	for i, s := range sources {
		if s.Reader == nil {
			return nil, fmt.Errorf("loading spec: source %s has no Reader", names[i])
		}
		data, err := readctx.ReadAll(ctx, s.Reader, int64(remaining))
		var pathErr *fs.PathError
		switch {
		case errors.As(err, &pathErr):
			return nil, fmt.Errorf("reading spec: %w", err) // it names the file
		case err != nil:
			return nil, fmt.Errorf("reading spec %s: %w", names[i], err)
		}
		if len(data) > remaining {
			l.problem(Location{File: names[i]}, fmt.Sprintf(
				"the spec is larger than %d bytes (the limit, Limits.MaxBytes)", l.limits.MaxBytes))
			return nil, l.err()
		}
		remaining -= len(data)
		srcs = append(srcs, &source{name: names[i], data: data})
	}
	return l.run(srcs)
}

// run parses every source, decodes the pod templates, then the requirements (which may name
// pods of any document or file), then checks what spans requirements: unique ids and
// depends_on.
func (l *loader) run(srcs []*source) (*Spec, error) {
	l.order(srcs)
	var reqDocs []*document
	var first *document // the first document that is not empty
	count := 0
	for _, src := range srcs {
		nodes, ok := l.parse(src, &count)
		if !ok {
			l.incomplete = true
		}
		for i, n := range nodes {
			if err := l.ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading spec: %w", err)
			}
			d, ok := l.document(src, i, n)
			if !ok {
				l.incomplete = true
			}
			if d == nil {
				continue
			}
			if first == nil {
				first = d
			}
			if m, ok := d.value.(map[string]any); ok {
				if _, ok := m["custom_requirements"]; ok {
					reqDocs = append(reqDocs, d)
					continue
				}
			}
			l.podDocument(d)
		}
	}
	if !l.expressionsWithinLimits(reqDocs) {
		return nil, l.err() // before compiling any: that is the work the limits bound
	}
	for _, d := range reqDocs {
		if err := l.requirementsDocument(d); err != nil {
			return nil, err
		}
	}
	l.crossChecks()
	if len(l.reqs) == 0 && !l.incomplete && !l.stray {
		l.noRequirements(srcs, reqDocs, first)
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	spec := &Spec{Requirements: make([]*Requirement, len(l.reqs)), Pods: l.pods, Notes: l.sortNotes()}
	for i, e := range l.reqs {
		spec.Requirements[i] = e.req
	}
	return spec, nil
}

// order records the order of the sources, by which problems sort.
func (l *loader) order(srcs []*source) {
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.name
	}
	l.problems.setOrder(names)
}

// noRequirements refuses a spec that holds no requirement: an empty file, comments only,
// custom_requirements: [], pod templates only. Such a gate would pass without checking
// anything (an empty download piped to preflight run - would pass). Nothing is added when
// the schema already reported what custom_requirements holds.
func (l *loader) noRequirements(srcs []*source, reqDocs []*document, first *document) {
	const fix = "add at least one requirement under custom_requirements (an id, a command and its results): a spec without requirements would pass without checking anything"
	for _, d := range reqDocs {
		if d.isFlagged([]string{"custom_requirements"}) {
			return
		}
	}
	if len(reqDocs) > 0 {
		l.problem(reqDocs[0].loc([]string{"custom_requirements"}, atValue), "is empty; "+fix)
		return
	}
	if first != nil {
		what := "the spec has no requirements document (a map with custom_requirements)"
		if len(l.pods) > 0 {
			what += ", only pod templates"
		}
		l.problem(first.loc(nil, atValue), what+"; "+fix)
		return
	}
	what := "the spec is empty"
	if len(srcs) > 1 {
		names := make([]string, len(srcs))
		for i, s := range srcs {
			names[i] = s.name
		}
		what = "the spec (" + strings.Join(names, ", ") + ") is empty"
	}
	l.problem(Location{File: srcs[0].name}, what+": no YAML document, only blank lines or comments (an empty download or an empty stdin reads like this); "+fix)
}

// document converts one parsed document; it returns nil for an empty document, and nil and
// false for one the converter refused (a limit was hit).
func (l *loader) document(src *source, index int, n *yaml.Node) (*document, bool) {
	root := n
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, true
		}
		root = n.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, true // an empty document, or one holding only comments
	}
	c := &converter{l: l, src: src, root: root}
	v := c.value(root, 1)
	if c.fatal {
		return nil, false
	}
	return &document{src: src, index: index, root: root, value: v}, true
}

// podDocument decodes a document that is not a requirements document: it must be a Pod, or
// what a classic replicated.yml holds besides (the rest of its main document without
// custom_requirements, the application's own Kubernetes objects), which is noted as unused.
func (l *loader) podDocument(d *document) {
	m, ok := d.value.(map[string]any)
	if ok && onlyClassicKeys(m) {
		l.classicNotes(d, m)
		return
	}
	if what, other := otherObject(m); ok && other {
		l.note(d.loc(nil, atValue), fmt.Sprintf(
			"document %d (%s) is not used by preflight: only requirements documents and pod templates (apiVersion: v1, kind: Pod) are", d.index+1, what))
		return
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	if !ok || kind != "Pod" || apiVersion != "v1" {
		what := map[string]string{"array": "a list", "string": "a string", "integer": "a number",
			"number": "a number", "boolean": "a boolean"}[specschema.TypeOf(d.value)]
		if ok {
			what = "a map without custom_requirements"
			if kind != "" || apiVersion != "" {
				what = fmt.Sprintf("apiVersion: %s, kind: %s", apiVersion, kind)
			}
		}
		l.stray = true
		l.problem(d.loc(nil, atValue), fmt.Sprintf(
			"document %d is %s; expected a requirements document (a map with custom_requirements) or a pod template (apiVersion: v1, kind: Pod)",
			d.index+1, what))
		return
	}
	raw, err := json.Marshal(m)
	if err != nil {
		l.problem(d.loc(nil, atValue), fmt.Sprintf("invalid Pod: %v", err))
		return
	}
	// The schema holds Kubernetes' Pod schema: what an editor flags is flagged here, in the
	// same words, and the strict decoding below adds nothing where the schema spoke.
	violations, err := specschema.ValidateDocument(d.value)
	if err != nil {
		l.problem(d.loc(nil, atValue), err.Error())
		return
	}
	for _, v := range violations {
		d.flagged = append(d.flagged, v.Pointer)
		l.problem(d.loc(v.Tokens(), anchor(v.At)), "invalid Pod: "+v.Message)
	}
	pod := &corev1.Pod{}
	strictErrs, err := sigsjson.UnmarshalStrict(raw, pod)
	if len(violations) > 0 {
		strictErrs, err = nil, nil
	}
	if err != nil {
		l.problem(d.loc(indexed(d.root, fieldTokens(jsonErrorField(err))), atValue), "invalid Pod: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	for _, e := range strictErrs {
		var path string
		if fe, ok := e.(sigsjson.FieldError); ok {
			path = fe.FieldPath()
		}
		msg := strings.TrimPrefix(e.Error(), "json: ")
		if strings.HasPrefix(msg, "unknown field") {
			msg += "; field names are case-sensitive (see kubectl explain pod)"
		}
		l.problem(d.loc(fieldTokens(path), atKey), "invalid Pod: "+msg)
	}
	name := pod.Name
	if name == "" {
		if d.isFlagged([]string{"metadata"}) {
			return // the schema said so
		}
		l.problem(d.loc([]string{"metadata"}, atValue), `missing required field "metadata.name": scheduler commands refer to the pod by it (pod_name)`)
		return
	}
	if first, dup := l.podLocs[name]; dup {
		l.problem(d.loc([]string{"metadata", "name"}, atValue), fmt.Sprintf(
			"duplicate Pod name %q; first defined at %s", name, first.String()))
		return
	}
	l.podTemplates(d)
	l.podLocs[name] = d.loc([]string{"metadata", "name"}, atValue)
	l.pods[name] = pod
}

// jsonErrorField returns the field path of a JSON type error, if it has one.
func jsonErrorField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

// indexed completes a field path without list indexes (encoding/json's type errors name
// spec.containers.image) with the index of the first list element that has the rest of the
// path, so that the problem points at a field rather than at the list.
func indexed(root *yaml.Node, tokens []string) []string {
	var out []string
	if !indexedFrom(root, tokens, &out) {
		return tokens
	}
	return out
}

func indexedFrom(n *yaml.Node, tokens []string, out *[]string) bool {
	if len(tokens) == 0 {
		return true
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == tokens[0] {
				*out = append(*out, tokens[0])
				if indexedFrom(n.Content[i+1], tokens[1:], out) {
					return true
				}
				*out = (*out)[:len(*out)-1]
				return false
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(tokens[0]); err == nil {
			if i < 0 || i >= len(n.Content) {
				return false
			}
			*out = append(*out, tokens[0])
			if indexedFrom(n.Content[i], tokens[1:], out) {
				return true
			}
			*out = (*out)[:len(*out)-1]
			return false
		}
		for i, e := range n.Content {
			*out = append(*out, strconv.Itoa(i))
			if indexedFrom(e, tokens, out) {
				return true
			}
			*out = (*out)[:len(*out)-1]
		}
	}
	return false
}

// fieldTokens splits a field path such as spec.containers[0].image, or a Kubernetes field
// path such as data.env[A] or data.node_selector[kubernetes.io/arch], into pointer tokens.
// A bracket holds a list index or a map key, which may contain dots.
func fieldTokens(path string) []string {
	var out []string
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(out, path[1:])
			}
			out = append(out, path[1:end])
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			out = append(out, path[:end])
			path = path[end:]
		}
	}
	return out
}

// requirementsDocument validates a requirements document against the schema and loads its
// requirements.
func (l *loader) requirementsDocument(d *document) error {
	violations, err := specschema.ValidateRequirements(d.value)
	if err != nil {
		l.problem(d.loc(nil, atValue), err.Error())
		return nil
	}
	for _, v := range violations {
		tokens := v.Tokens()
		d.flagged = append(d.flagged, v.Pointer)
		msg := v.Message
		if v.Keyword == "type" {
			msg += l.typeHint(d, tokens, v.Types)
		}
		l.problem(d.loc(tokens, anchor(v.At)), msg)
	}
	l.classicNotes(d, d.value.(map[string]any))
	list, _ := d.value.(map[string]any)["custom_requirements"].([]any)
	for i, item := range list {
		if err := l.ctx.Err(); err != nil {
			return fmt.Errorf("loading spec: %w", err)
		}
		if m, ok := item.(map[string]any); ok {
			l.requirement(d, []string{"custom_requirements", strconv.Itoa(i)}, m)
		}
	}
	return nil
}

// typeHint adds YAML advice to a type violation: an unquoted 1.20, 10 or true where a string
// is wanted is resolved by YAML as a number or a boolean.
func (l *loader) typeHint(d *document, tokens []string, want []string) string {
	_, n, _ := resolve(d.root, tokens)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	for _, w := range want {
		if w == "string" && n.Tag != "!!str" && n.Tag != "!!null" && n.Style == 0 {
			return fmt.Sprintf(`; YAML reads the unquoted %s as %s: quote it ("%s")`, n.Value, strings.TrimPrefix(n.Tag, "!!"), n.Value)
		}
	}
	if len(want) == 1 && want[0] == "integer" && n.Tag == "!!str" {
		if _, err := strconv.Atoi(n.Value); err == nil {
			return "; remove the quotes"
		}
	}
	if len(want) == 1 && want[0] == "boolean" && n.Tag == "!!str" {
		switch strings.ToLower(n.Value) {
		case "yes", "no", "on", "off", "y", "n", "true", "false":
			return "; write true or false, unquoted"
		}
	}
	return ""
}
