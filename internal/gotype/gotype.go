// Package gotype describes the Go types a command's data decodes into, the way a spec author
// reads them: the JSON names of a struct's fields (as encoding/json reads them, embedded
// structs' fields promoted), whether a type takes any JSON value, and a type's name in a
// message ("an array of strings"). The command package uses it for its data errors, the
// analyzer and the loader for the types of K_expr values.
package gotype

import (
	"encoding"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// Field is a struct field with its JSON name.
type Field struct {
	Name string
	reflect.StructField
}

// Fields returns the fields of struct t (through pointers) that encoding/json reads, with
// their JSON names, sorted by name: the fields of an embedded struct without a json name are
// promoted, as encoding/json promotes them; fields tagged "-" and unexported ones are left out.
func Fields(t reflect.Type) []Field {
	t = Deref(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []Field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && Deref(f.Type).Kind() == reflect.Struct {
			out = append(out, Fields(f.Type)...)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, Field{Name: name, StructField: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the JSON names of Fields(t).
func Names(t reflect.Type) []string {
	fs := Fields(t)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// Lookup returns the field of struct t whose JSON name is name.
func Lookup(t reflect.Type, name string) (Field, bool) {
	for _, f := range Fields(t) {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Deref strips pointers; nil stays nil.
func Deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var (
	rawMessageType  = reflect.TypeOf(json.RawMessage(nil))
	unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textType        = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// Opaque reports whether t (through pointers) takes any JSON value whose inside its type does
// not describe: nil (unknown), an interface, json.RawMessage, or a type with its own JSON
// decoding (a Kubernetes Quantity, an IntOrString, a Time, a net.IP).
func Opaque(t reflect.Type) bool {
	t = Deref(t)
	if t == nil || t.Kind() == reflect.Interface || t == rawMessageType {
		return true
	}
	own := func(i reflect.Type) bool { return t.Implements(i) || reflect.PointerTo(t).Implements(i) }
	return own(unmarshalerType) || t.Kind() != reflect.String && own(textType)
}

// Describe names a Go type the way a spec author thinks of it: "a string", "an integer",
// "an array of strings", "a map of strings", "an object", "a JSON value".
func Describe(t reflect.Type) string {
	t = Deref(t)
	if t == nil || t.Kind() == reflect.Interface || t == rawMessageType {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + Plural(Describe(t.Elem()))
	case reflect.Map:
		return "a map of " + Plural(Describe(t.Elem()))
	case reflect.Struct:
		return "an object"
	default:
		return t.String()
	}
}

// Plural turns "a string" into "strings", "an array of strings" into "arrays of strings": the
// noun before any " of " or " (" takes the plural.
func Plural(s string) string {
	for _, art := range []string{"a ", "an "} {
		if rest, ok := strings.CutPrefix(s, art); ok {
			s = rest
			break
		}
	}
	end := len(s)
	for _, sep := range []string{" of ", " ("} {
		if i := strings.Index(s, sep); i >= 0 && i < end {
			end = i
		}
	}
	return s[:end] + "s" + s[end:]
}
