package requirement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// source is one input of a spec.
type source struct {
	name  string
	data  []byte
	lines [][]byte // split lazily, for positions inside block scalars
}

// line returns the 1-based line n of the source, or nil.
func (s *source) line(n int) []byte {
	if s.lines == nil {
		s.lines = bytes.Split(s.data, []byte("\n"))
	}
	if n < 1 || n > len(s.lines) {
		return nil
	}
	return s.lines[n-1]
}

// document is one YAML document of a source.
type document struct {
	src   *source
	index int        // 0-based, within its source
	root  *yaml.Node // the document's content
	value any        // root as a JSON value (map[string]any, []any, string, json.Number, bool, nil)
	// flagged holds the JSON pointers the schema found wrong, so that the checks after it
	// do not report the same problem again.
	flagged []string
}

// isFlagged reports whether the schema found a problem at the pointer of tokens or below it.
func (d *document) isFlagged(tokens []string) bool {
	if len(d.flagged) == 0 {
		return false
	}
	p := pointer(tokens)
	for _, f := range d.flagged {
		if f == p || strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// anchor says where a problem about a field points.
type anchor int

const (
	atValue  anchor = iota // the field's value
	atKey                  // the field's key
	atParent               // the map the field is missing from
)

// loc returns the location of the field at tokens. When the field cannot be found, it is the
// location of its closest ancestor that can.
func (d *document) loc(tokens []string, at anchor) Location {
	if at == atParent && len(tokens) > 0 {
		tokens = tokens[:len(tokens)-1]
	}
	key, val, path := resolve(d.root, tokens)
	n := val
	if at == atKey && key != nil {
		n = key
	}
	l := Location{File: d.src.name, Path: path}
	if n != nil {
		l.Line, l.Column = n.Line, n.Column
	}
	return l
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// resolve follows tokens from root. It returns the key and value nodes of the deepest field
// it reaches and that field's path, such as custom_requirements[2].results[0].condition.
func resolve(root *yaml.Node, tokens []string) (key, val *yaml.Node, path string) {
	var b strings.Builder
	val = root
	for _, tok := range tokens {
		n := val
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			break
		}
		var k, v *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					k, v = n.Content[i], n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				v = n.Content[i]
			}
		}
		if v == nil {
			break
		}
		key, val = k, v
		switch {
		case n.Kind == yaml.SequenceNode:
			b.WriteString("[" + tok + "]")
		case plainKey.MatchString(tok):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		default:
			fmt.Fprintf(&b, "[%q]", tok)
		}
	}
	return key, val, b.String()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse splits a source into its documents. It stops at the first YAML syntax error (the
// parser cannot go on after one) and at the document limit (*count is the documents seen so
// far in the whole spec).
func (l *loader) parse(src *source, count *int) (docs []*yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 is not known to panic on any input since v3.0.0; if it ever does, the
		// spec is refused rather than the caller crashed.
		if r := recover(); r != nil {
			l.problem(Location{File: src.name}, fmt.Sprintf("invalid YAML: %v", r))
			ok = false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			loc, msg := syntaxError(dec, src, err)
			l.problem(loc, msg)
			return docs, false
		}
		*count++
		if *count > l.limits.MaxDocuments {
			l.problem(Location{File: src.name, Line: n.Line},
				fmt.Sprintf("the spec has more than %d YAML documents (the limit, Limits.MaxDocuments)", l.limits.MaxDocuments))
			return docs, false
		}
		docs = append(docs, &n)
	}
}

// converter turns one document's node tree into JSON values, refusing what JSON cannot hold
// or the limits forbid. It never expands an alias beyond Limits.MaxAliases.
type converter struct {
	l       *loader
	src     *source
	root    *yaml.Node
	aliases int
	stack   []string // tokens of the node being converted, for problem paths
	fatal   bool     // a limit was hit: the document is not checked further
}

func (c *converter) fail(n *yaml.Node, msg string) {
	_, _, path := resolve(c.root, c.stack)
	c.l.problem(Location{File: c.src.name, Line: n.Line, Column: n.Column, Path: path}, msg)
}

func (c *converter) value(n *yaml.Node, depth int) any {
	if c.fatal {
		return nil
	}
	if depth > c.l.limits.MaxDepth {
		c.fail(n, fmt.Sprintf("nesting is deeper than %d levels (the limit, Limits.MaxDepth)", c.l.limits.MaxDepth))
		c.fatal = true
		return nil
	}
	if n.Anchor != "" && c.l.limits.MaxAliases == 0 {
		c.fail(n, fmt.Sprintf("YAML anchors (&%s) and aliases are not allowed (Limits.MaxAliases is 0); write the value out", n.Anchor))
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		c.aliases++
		if c.aliases > c.l.limits.MaxAliases {
			if c.l.limits.MaxAliases == 0 {
				c.fail(n, fmt.Sprintf("YAML aliases (*%s) are not allowed (Limits.MaxAliases is 0); write the value out", n.Value))
			} else {
				c.fail(n, fmt.Sprintf("the document expands more than %d YAML aliases (the limit, Limits.MaxAliases)", c.l.limits.MaxAliases))
			}
			c.fatal = true
			return nil
		}
		if n.Alias == nil {
			return nil
		}
		return c.value(n.Alias, depth)
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			c.stack = append(c.stack, strconv.Itoa(i))
			s[i] = c.value(e, depth+1)
			c.stack = c.stack[:len(c.stack)-1]
		}
		return s
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return nil
}

// mapping converts a mapping, reporting every duplicate key (the first one counts).
func (c *converter) mapping(n *yaml.Node, depth int) map[string]any {
	m := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := c.key(k)
		if !ok {
			continue
		}
		c.stack = append(c.stack, key)
		if _, dup := m[key]; dup {
			msg := fmt.Sprintf("duplicate key %q; remove one", key)
			for j := 0; j < i; j += 2 {
				if f := n.Content[j]; f.Value == key {
					msg = fmt.Sprintf("duplicate key %q (first at line %d, column %d); remove one", key, f.Line, f.Column)
					break
				}
			}
			c.fail(k, msg)
		} else {
			m[key] = c.value(v, depth+1)
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
	return m
}

// key returns a mapping key as a string: keys must be scalars, and not null or merge keys.
func (c *converter) key(k *yaml.Node) (string, bool) {
	switch {
	case k.Kind != yaml.ScalarNode:
		c.fail(k, "mapping keys must be plain strings, not lists, maps or aliases")
		return "", false
	case k.Tag == "!!merge":
		c.fail(k, "merge keys (<<) are not supported; write the fields out")
		return "", false
	case k.Tag == "!!null":
		c.fail(k, "a mapping key is null; give it a name")
		return "", false
	}
	return k.Value, true
}

// scalar converts a scalar by its resolved tag, so that an unquoted 1.20 stays a number (and
// a string field given one is a type error) instead of silently becoming "1.2".
func (c *converter) scalar(n *yaml.Node) any {
	switch n.Tag {
	case "!!str", "!!timestamp":
		return n.Value
	case "!!null":
		return nil
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if u, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "+"), 0, 64); err == nil {
			return json.Number(strconv.FormatUint(u, 10))
		}
		c.fail(n, fmt.Sprintf("integer %s is out of range", n.Value))
		return nil
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			c.fail(n, fmt.Sprintf("%s is not a finite number; quote it if it is meant as a string", n.Value))
			return nil
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
	}
	c.fail(n, fmt.Sprintf("unsupported YAML tag %s; remove it (the fields of a spec are plain strings, numbers, booleans, lists and maps)", n.Tag))
	return nil
}
