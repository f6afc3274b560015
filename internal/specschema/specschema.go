// Package specschema validates a spec's documents against the embedded JSON Schema (package
// schema holds its text) and turns violations into messages with JSON pointers: what the
// loader reports before it checks what a schema cannot.
package specschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/preflightkit/preflight/schema"
)

// id is the schema's $id. Nothing is ever fetched from it: the schema is embedded.
const id = "https://preflightkit.github.io/preflight/spec.schema.json"

// specJSON is the schema text.
var specJSON = schema.JSON()

// Anchor says where in a document a Violation points.
type Anchor int

const (
	// AtValue points at the value at Pointer.
	AtValue Anchor = iota
	// AtKey points at the key of the value at Pointer (an unknown field).
	AtKey
	// AtParent points at the object holding Pointer, which is missing from it (a required
	// field).
	AtParent
)

// Violation is one way a document does not conform to the schema.
type Violation struct {
	// Pointer is the JSON pointer (RFC 6901) of the value concerned, such as
	// /custom_requirements/0/command/timeout. For a missing field it is the pointer the
	// field would have.
	Pointer string
	// At says whether the problem is best shown at the value, at its key or at the object
	// that lacks it.
	At Anchor
	// Keyword is the schema keyword that failed (type, required, additionalProperties, ...).
	Keyword string
	// Message says what is wrong and how to fix it.
	Message string
	// Types lists the JSON types the schema wanted, for type violations.
	Types []string
}

// Tokens returns the pointer's reference tokens, unescaped.
func (v Violation) Tokens() []string { return SplitPointer(v.Pointer) }

// SplitPointer splits a JSON pointer into its unescaped reference tokens; "" gives none.
func SplitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

// JoinPointer builds a JSON pointer from reference tokens, escaping them.
func JoinPointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// compiled holds the compiled schema and its raw form, to look up what a failing keyword
// expected.
type compiled struct {
	root         *jsonschema.Schema
	requirements *jsonschema.Schema
	raw          any
}

// draft2020 and draft2019 are the $schema values of the two drafts.
const (
	draft2020 = "https://json-schema.org/draft/2020-12/schema"
	draft2019 = "https://json-schema.org/draft/2019-09/schema"
)

// asDraft2019 returns the schema text declared as draft 2019-09, which the loader compiles:
// the schema (draft 2020-12) uses no keyword whose meaning differs between the two (a test
// holds it to that), and the validator compiles a 2020-12 document in time that grows with
// the square of its subschemas (for $dynamicAnchor, which it does not use): 0.33 s instead
// of 0.1 s with the Pod schema (docs/performance.md).
func asDraft2019(text []byte) ([]byte, error) {
	from, to := []byte(`"$schema": "`+draft2020+`"`), []byte(`"$schema": "`+draft2019+`"`)
	if bytes.Count(text, from) != 1 {
		return nil, fmt.Errorf("schema: the schema does not declare %s once", draft2020)
	}
	return bytes.Replace(text, from, to, 1), nil
}

var load = sync.OnceValues(func() (*compiled, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	// The schema is self-contained: refuse to load anything from files or the network.
	c.LoadURL = func(s string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("schema: refusing to load %q: only the embedded schema is used", s)
	}
	text, err := asDraft2019(specJSON)
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(id, bytes.NewReader(text)); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	root, err := c.Compile(id)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	reqs, err := c.Compile(id + "#/$defs/requirementsDocument")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var raw any
	if err := json.Unmarshal(specJSON, &raw); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &compiled{root: root, requirements: reqs, raw: raw}, nil
})

// Check compiles the embedded schema (once) and reports whether it is usable.
func Check() error {
	_, err := load()
	return err
}

// ValidateDocument validates one document of a spec, either kind, as an editor does. doc is a
// decoded JSON value: map[string]any, []any, string, bool, nil, json.Number or a Go number.
// The error is non-nil only when doc could not be validated at all (a Go value that is not
// JSON); violations are returned as data.
func ValidateDocument(doc any) ([]Violation, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	return c.validate(c.root, doc)
}

// ValidateRequirements validates a requirements document (a map with custom_requirements).
// doc is as for ValidateDocument.
func ValidateRequirements(doc any) ([]Violation, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	return c.validate(c.requirements, doc)
}

func (c *compiled) validate(s *jsonschema.Schema, doc any) ([]Violation, error) {
	err := s.Validate(doc)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var out []Violation
	c.translate(doc, ve, &out)
	// Drop repeats (the same problem reached through two branches).
	seen := map[string]bool{}
	uniq := out[:0]
	for _, v := range out {
		k := v.Pointer + "\x00" + v.Message
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, v)
		}
	}
	sort.SliceStable(uniq, func(i, j int) bool { return uniq[i].Pointer < uniq[j].Pointer })
	return uniq, nil
}

// translate turns a validation error tree into violations with clear messages.
func (c *compiled) translate(doc any, ve *jsonschema.ValidationError, out *[]Violation) {
	keyword, parent := splitKeyword(ve.AbsoluteKeywordLocation)
	sch, _ := lookup(c.raw, parent).(map[string]any)
	if xe, ok := sch["x-errors"].(map[string]any); ok {
		if msg, ok := xe[keyword].(string); ok {
			v := Violation{Pointer: ve.InstanceLocation, Keyword: keyword, Message: msg}
			// A dependentSchemas entry is about the key that triggers it (K_expr given with K).
			if rest, key, ok := cutLast(parent); ok && strings.HasSuffix(rest, "/dependentSchemas") {
				v.Pointer, v.At = ve.InstanceLocation+JoinPointer(key), AtKey
			}
			*out = append(*out, v)
			return
		}
	}
	if len(ve.Causes) > 0 {
		for _, cause := range ve.Causes {
			c.translate(doc, cause, out)
		}
		return
	}
	value := lookup(doc, "#"+ve.InstanceLocation)
	v := Violation{Pointer: ve.InstanceLocation, Keyword: keyword}
	switch keyword {
	case "additionalProperties":
		obj, _ := value.(map[string]any)
		props, _ := sch["properties"].(map[string]any)
		// K_expr keys are named among the known fields only for an unknown key that is one.
		known, exprs, classic := make([]string, 0, len(props)), make([]string, 0, len(props)), []string(nil)
		for k, p := range props {
			if base, ok := strings.CutSuffix(k, "_expr"); ok && props[base] != nil {
				exprs = append(exprs, k)
				continue
			}
			if pm, _ := p.(map[string]any); pm["deprecated"] == true {
				classic = append(classic, k) // accepted, not used: suggested, never listed
				continue
			}
			known = append(known, k)
		}
		sort.Strings(known)
		sort.Strings(exprs)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			if _, ok := props[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			names := known
			if strings.HasSuffix(k, "_expr") && len(exprs) > 0 {
				names = exprs
			}
			msg := UnknownField(k, names)
			if Suggest(k, names) == "" {
				if m := Suggest(k, classic); m != "" {
					msg = fmt.Sprintf("unknown field %q; did you mean %q?", k, m)
				}
			}
			*out = append(*out, Violation{
				Pointer: ve.InstanceLocation + JoinPointer(k), At: AtKey, Keyword: keyword,
				Message: msg,
			})
		}
		return
	case "required":
		obj, _ := value.(map[string]any)
		req, _ := sch["required"].([]any)
		for _, r := range req {
			name, _ := r.(string)
			if _, ok := obj[name]; ok {
				continue
			}
			*out = append(*out, Violation{
				Pointer: ve.InstanceLocation + JoinPointer(name), At: AtParent, Keyword: keyword,
				Message: fmt.Sprintf("missing required field %q", name),
			})
		}
		return
	case "type":
		v.Types = types(sch["type"])
		v.Message = typeMessage(v.Types, value)
	case "enum":
		if sch["x-registry"] != nil {
			// The built-in command ids: the loader checks an id against its own registry,
			// which a caller may have extended, and suggests the closest registered one.
			return
		}
		opts, _ := sch["enum"].([]any)
		names := make([]string, len(opts))
		for i, o := range opts {
			names[i] = fmt.Sprint(o)
		}
		v.Message = fmt.Sprintf("must be one of %s, not %s", strings.Join(names, ", "), describe(value))
		if s, ok := value.(string); ok {
			if m := Suggest(s, names); m != "" {
				v.Message += fmt.Sprintf("; did you mean %q?", m)
			}
		}
	case "const":
		v.Message = fmt.Sprintf("must be %s, not %s", describe(sch["const"]), describe(value))
	case "minLength":
		if n := num(sch["minLength"]); n == 1 {
			v.Message = "must not be empty"
		} else {
			v.Message = fmt.Sprintf("must be at least %d characters long", n)
		}
	case "maxLength":
		s, _ := value.(string)
		v.Message = fmt.Sprintf("must be at most %d characters long, not %d", num(sch["maxLength"]), len([]rune(s)))
	case "minItems":
		if n := num(sch["minItems"]); n == 1 {
			v.Message = "must not be empty"
		} else {
			v.Message = fmt.Sprintf("must have at least %d items", n)
		}
	case "minimum":
		v.Message = fmt.Sprintf("must be at least %d, not %s", num(sch["minimum"]), describe(value))
	case "maximum":
		v.Message = fmt.Sprintf("must be at most %d, not %s", num(sch["maximum"]), describe(value))
	case "pattern":
		v.Message = fmt.Sprintf("must match the pattern %s", sch["pattern"])
	case "uniqueItems":
		arr, _ := value.([]any)
		for j := range arr {
			for i := 0; i < j; i++ {
				if equalJSON(arr[i], arr[j]) {
					*out = append(*out, Violation{
						Pointer: ve.InstanceLocation + JoinPointer(strconv.Itoa(j)), Keyword: keyword,
						Message: fmt.Sprintf("%s is listed twice (items %d and %d)", describe(arr[j]), i, j),
					})
					break
				}
			}
		}
		return
	default:
		v.Message = ve.Message
	}
	*out = append(*out, v)
}

// splitKeyword splits an absolute keyword location into the failing keyword and the JSON
// pointer (with a leading #) of the schema object that holds it.
func splitKeyword(loc string) (keyword, parent string) {
	_, frag, _ := strings.Cut(loc, "#")
	i := strings.LastIndexByte(frag, '/')
	if i < 0 {
		return frag, "#"
	}
	return frag[i+1:], "#" + frag[:i]
}

// cutLast splits "#/a/b/c" into "#/a/b" and "c".
func cutLast(ptr string) (rest, last string, ok bool) {
	i := strings.LastIndexByte(ptr, '/')
	if i < 0 {
		return "", "", false
	}
	return ptr[:i], ptr[i+1:], true
}

// lookup resolves a "#/a/b" pointer in a decoded JSON value; nil when absent.
func lookup(v any, ptr string) any {
	return ValueAt(v, SplitPointer(strings.TrimPrefix(ptr, "#")))
}

// ValueAt returns the value at tokens (map keys and list indexes) in a decoded JSON value;
// nil when absent.
func ValueAt(v any, tokens []string) any {
	for _, tok := range tokens {
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func types(t any) []string {
	switch x := t.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, s := range x {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

var typeNames = map[string]string{
	"string":  "a string",
	"object":  "a map",
	"array":   "a list",
	"integer": "an integer",
	"number":  "a number",
	"boolean": "true or false",
	"null":    "null",
}

func typeMessage(want []string, got any) string {
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = typeNames[w]
	}
	return fmt.Sprintf("must be %s, not %s", strings.Join(names, " or "), describe(got))
}

// TypeOf returns the JSON type of a decoded value: null, boolean, integer, number, string,
// array or object.
func TypeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case int, int64, int32, uint64:
		return "integer"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// describe names a value for a message: `the string "no"`, `the number 1.2`, `a map`.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:37] + "..."
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case json.Number, float64, int, int64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%v", v)
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// UnknownField is the message for an unknown field name among known ones: it suggests the
// closest known name (field names are case-sensitive) or lists them.
func UnknownField(name string, known []string) string {
	if m := Suggest(name, known); m != "" {
		if strings.EqualFold(m, name) {
			return fmt.Sprintf("unknown field %q; did you mean %q? (field names are case-sensitive)", name, m)
		}
		return fmt.Sprintf("unknown field %q; did you mean %q?", name, m)
	}
	if len(known) == 0 {
		return fmt.Sprintf("unknown field %q", name)
	}
	return fmt.Sprintf("unknown field %q; expected one of %s", name, strings.Join(known, ", "))
}

// Suggest returns the candidate closest to s (case-insensitive equality first, then an edit
// distance of at most 2, or 1 for short words), or "" when none is close.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if strings.EqualFold(c, s) {
			return c
		}
		d := distance(strings.ToLower(s), strings.ToLower(c))
		limit := 2
		if len(c) <= 4 {
			limit = 1
		}
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, with adjacent transpositions counted as
// one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
