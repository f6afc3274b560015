package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/preflightkit/preflight/internal/gotype"
)

// decodeStrict decodes a command's data (or a part of it, at path p) into v, a pointer to a
// struct with json tags, the way the spec loader decodes everything else: keys match the
// tags case-sensitively, and unknown or duplicate keys are errors. Absent data (nil or JSON
// null) decodes as an empty object, so that the caller's checks of required fields report
// what is missing. Every problem is returned, each at the path of its field.
func decodeStrict(p *field.Path, data json.RawMessage, v any) field.ErrorList {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		trimmed = []byte("{}")
	}
	strictErrs, err := sigsjson.UnmarshalStrict(trimmed, v)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			at := withoutEmbedded(reflect.TypeOf(v), elementPath(trimmed, te))
			return field.ErrorList{invalid(childPath(p, at), "must be %s, not %s", gotype.Describe(te.Type), te.Value)}
		}
		if ok, off := sigsjson.SyntaxErrorOffset(err); ok {
			return field.ErrorList{invalid(p, "invalid JSON at byte %d: %v", off, err)}
		}
		return field.ErrorList{invalid(p, "%v", err)}
	}
	var errs field.ErrorList
	for _, se := range strictErrs {
		var fe sigsjson.FieldError
		if !errors.As(se, &fe) {
			errs = append(errs, invalid(p, "%v", se))
			continue
		}
		at := childPath(p, fe.FieldPath())
		msg := se.Error()
		switch {
		case strings.HasPrefix(msg, "unknown field"):
			known := gotype.Names(parentType(reflect.TypeOf(v), fe.FieldPath()))
			errs = append(errs, invalid(at, "unknown field (known fields: %s; names are case-sensitive)", strings.Join(known, ", ")))
		case strings.HasPrefix(msg, "duplicate field"):
			errs = append(errs, invalid(at, "duplicate field: give it once"))
		default:
			errs = append(errs, invalid(at, "%s", msg))
		}
	}
	return errs
}

// parentType returns the struct type that holds the field at a dotted path ("service.ns":
// the type of service) within t, following pointers, slices and maps; t when it cannot tell.
func parentType(t reflect.Type, dotted string) reflect.Type {
	parts := strings.Split(dotted, ".")
	cur := t
	for _, part := range parts[:len(parts)-1] {
		name, _, _ := strings.Cut(part, "[")
		f, ok := gotype.Lookup(gotype.Deref(cur), name)
		if !ok {
			return t
		}
		cur = gotype.Deref(f.Type)
		for cur.Kind() == reflect.Slice || cur.Kind() == reflect.Map {
			cur = gotype.Deref(cur.Elem())
		}
	}
	return cur
}

// childPath appends a dotted field path as encoding/json names it ("env.A", "cmd[1]") to p.
func childPath(p *field.Path, dotted string) *field.Path {
	for _, part := range strings.Split(dotted, ".") {
		if part == "" {
			continue
		}
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			p = p.Child(name)
		}
		for rest != "" {
			idx, more, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(idx); err == nil {
				p = p.Index(i)
			} else {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(more, "[")
		}
	}
	return p
}

// elementPath returns the path of the value a type error is about. The decoder names only
// the field for a bad element of a top-level map or array field ("env" for env.A); this finds
// the first element that does not decode, so the path says which one ("env.A", "cmd[1]").
func elementPath(data []byte, te *json.UnmarshalTypeError) string {
	if te.Field == "" || strings.ContainsAny(te.Field, ".[") {
		return te.Field
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return te.Field
	}
	raw := bytes.TrimSpace(top[te.Field])
	if len(raw) == 0 || strings.HasPrefix(te.Value, jsonKind(raw[0])) {
		return te.Field // the field itself has the wrong type
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if json.Unmarshal(m[k], reflect.New(te.Type).Interface()) != nil {
				return te.Field + "[" + k + "]"
			}
		}
		return te.Field
	}
	var a []json.RawMessage
	if json.Unmarshal(raw, &a) == nil {
		for i, v := range a {
			if json.Unmarshal(v, reflect.New(te.Type).Interface()) != nil {
				return fmt.Sprintf("%s[%d]", te.Field, i)
			}
		}
	}
	return te.Field
}

// jsonKind names the kind of a JSON value from its first byte, as UnmarshalTypeError.Value
// does.
func jsonKind(first byte) string {
	switch first {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// withoutEmbedded drops from a dotted field path the names of the embedded structs of t whose
// fields encoding/json promotes ("classicPlacement.cluster" is "cluster" in the data).
func withoutEmbedded(t reflect.Type, dotted string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || !strings.Contains(dotted, ".") {
		return dotted
	}
	parts := strings.Split(dotted, ".")
	out := parts[:0]
	for _, part := range parts {
		if f, ok := t.FieldByName(part); ok && f.Anonymous && f.Tag.Get("json") == "" {
			continue
		}
		out = append(out, part)
	}
	return strings.Join(out, ".")
}
