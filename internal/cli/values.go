package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxValuesBytes bounds a --values file.
const maxValuesBytes = 4 << 20

// buildVars merges the --values files in order, then applies every --set, as helm does: maps
// merge key by key, any other value replaces what was there, and --set wins over files.
// It returns an empty, non-nil map when nothing is given.
func buildVars(ctx context.Context, stdin io.Reader, files, sets []string) (map[string]any, error) {
	vars := map[string]any{}
	for _, f := range files {
		v, err := readValuesFile(ctx, stdin, f)
		if err != nil {
			return nil, err
		}
		mergeInto(vars, v)
	}
	for _, s := range sets {
		if err := parseSet(vars, s); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	return vars, nil
}

// readValuesFile reads a YAML map of values ("-" is stdin). Numbers that are integers become
// int64, others float64 (as helm reads values files, through JSON); duplicate keys are
// errors.
func readValuesFile(ctx context.Context, stdin io.Reader, name string) (map[string]any, error) {
	data, err := readInput(ctx, stdin, name, maxValuesBytes)
	if errors.Is(err, errInputInterrupted) {
		return nil, err
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("--values: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--values %s: %w", name, err)
	}
	if len(data) > maxValuesBytes {
		return nil, fmt.Errorf("--values %s: larger than %d bytes", name, maxValuesBytes)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("--values %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--values %s: %w", name, err)
	}
	switch m := typedNumbers(v).(type) {
	case nil:
		return map[string]any{}, nil // an empty file
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("--values %s: must hold a map of values (key: value), not a %T", name, m)
	}
}

// typedNumbers replaces json.Numbers with int64 (integers) or float64.
func typedNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = typedNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = typedNumbers(e)
		}
	}
	return v
}

// mergeInto merges src into dst: maps merge recursively, anything else replaces.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
			cp := map[string]any{}
			mergeInto(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// parseSet applies one --set expression to dst. The syntax is helm's:
//
//	a=1,b.c=two         several pairs, comma-separated; dotted keys make nested maps
//	list={x,y,3}        a list
//	name=a\,b           a backslash escapes the next character (, = . { } \)
//
// Values are typed as helm types them: true and false (any case) are bools, null is null,
// integers without a leading zero are int64, anything else is a string. List indices
// (a[0]=x) are not supported.
func parseSet(dst map[string]any, expr string) error {
	s := &setScanner{src: expr}
	for {
		keys, err := s.key()
		if err != nil {
			return err
		}
		v, err := s.value()
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(keys, "."), err)
		}
		setPath(dst, keys, v)
		if s.done() {
			return nil
		}
		s.pos++ // the comma between pairs
		if s.done() {
			return errors.New("trailing comma")
		}
	}
}

type setScanner struct {
	src string
	pos int
}

func (s *setScanner) done() bool { return s.pos >= len(s.src) }

// key reads a dotted key up to '=' and returns its parts, unescaped.
func (s *setScanner) key() ([]string, error) {
	var parts []string
	var cur strings.Builder
	for !s.done() {
		c := s.src[s.pos]
		switch c {
		case '\\':
			if s.pos+1 >= len(s.src) {
				return nil, errors.New("a trailing backslash escapes nothing")
			}
			cur.WriteByte(s.src[s.pos+1])
			s.pos += 2
			continue
		case '.':
			if cur.Len() == 0 {
				return nil, fmt.Errorf("key %q has an empty part", s.src[:s.pos+1])
			}
			parts = append(parts, cur.String())
			cur.Reset()
		case '=':
			if cur.Len() == 0 {
				return nil, fmt.Errorf("key %q has an empty part", s.src[:s.pos])
			}
			parts = append(parts, cur.String())
			s.pos++
			return parts, nil
		case ',':
			return nil, fmt.Errorf("key %q has no value (want key=value)", cur.String())
		case '[', ']':
			return nil, errors.New("list indices (a[0]=x) are not supported: set the whole list with a={x,y}")
		default:
			cur.WriteByte(c)
		}
		s.pos++
	}
	if cur.Len() == 0 && len(parts) == 0 {
		return nil, errors.New("empty expression (want key=value)")
	}
	return nil, fmt.Errorf("key %q has no value (want key=value)", strings.Join(append(parts, cur.String()), "."))
}

// value reads a scalar up to an unescaped ',' or a {list}.
func (s *setScanner) value() (any, error) {
	if !s.done() && s.src[s.pos] == '{' {
		s.pos++
		var list []any
		for {
			item, end, err := s.scalar("},")
			if err != nil {
				return nil, err
			}
			if end != '}' && end != ',' {
				return nil, errors.New("list is not closed with '}'")
			}
			if end == '}' && item == "" && len(list) == 0 {
				return []any{}, nil // {}
			}
			list = append(list, typedValue(item))
			if end == '}' {
				if !s.done() && s.src[s.pos] != ',' {
					return nil, errors.New("unexpected text after '}'")
				}
				return list, nil
			}
		}
	}
	item, _, err := s.scalar(",")
	if err != nil {
		return nil, err
	}
	return typedValue(item), nil
}

// scalar reads unescaped text up to one of stops (consumed unless it is ',' outside a list)
// and returns it with the stop byte (0 at the end of input).
func (s *setScanner) scalar(stops string) (string, byte, error) {
	var b strings.Builder
	for !s.done() {
		c := s.src[s.pos]
		if c == '\\' {
			if s.pos+1 >= len(s.src) {
				return "", 0, errors.New("a trailing backslash escapes nothing")
			}
			b.WriteByte(s.src[s.pos+1])
			s.pos += 2
			continue
		}
		if strings.IndexByte(stops, c) >= 0 {
			if stops != "," { // inside a list: consume the separator or the '}'
				s.pos++
			}
			return b.String(), c, nil
		}
		b.WriteByte(c)
		s.pos++
	}
	return b.String(), 0, nil
}

// typedValue types a --set value as helm does.
func typedValue(s string) any {
	switch {
	case strings.EqualFold(s, "true"):
		return true
	case strings.EqualFold(s, "false"):
		return false
	case s == "null":
		return nil
	case s == "0":
		return int64(0)
	}
	if len(s) > 0 && s[0] != '0' {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	return s
}

// setPath sets dst[keys...] = v, creating (or replacing non-map values with) nested maps.
func setPath(dst map[string]any, keys []string, v any) {
	for _, k := range keys[:len(keys)-1] {
		next, ok := dst[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			dst[k] = next
		}
		dst = next
	}
	dst[keys[len(keys)-1]] = v
}
