package requirement

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a syntax error as "yaml: line N: problem": no column, and N is the line of
// the enclosing construct when there is one (a flow mapping that is never closed is reported
// at its opening line, not where the parser gave up), off by one for parser errors (it is
// 0-based there), and missing when that line is the first. The parser itself knows better:
// it keeps libyaml's problem and context marks (line and column of each) after the error.
// syntaxError reads them from the decoder, read-only and checked field by field, so that the
// spec's problem points at the exact line and column; when they cannot be read (another
// yaml.v3 layout), it falls back to the message's line.

// yamlSyntax is a YAML syntax error with its positions, 1-based.
type yamlSyntax struct {
	problem      string
	line, column int
	context      string // "while parsing a flow mapping", or ""
	ctxLine      int
	ctxColumn    int
	value        int // reader errors: the offending character or byte, -1 when unknown
}

// libyaml's error kinds (yaml_error_type_t).
const (
	yamlNoError      = 0
	yamlReaderError  = 2
	yamlScannerError = 3
	yamlParserError  = 4
)

// syntaxError returns the position and message of err, a syntax error dec returned while
// decoding src.
func syntaxError(dec *yaml.Decoder, src *source, err error) (Location, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	loc := Location{File: src.name}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
	}
	s, ok := readSyntax(dec, src, msg)
	if !ok {
		// The message's line, and the first non-blank column of that line.
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			loc.Line, _ = strconv.Atoi(m[1])
			loc.Column = firstColumn(src.line(loc.Line))
		}
		return loc, "invalid YAML: " + msg
	}
	loc.Line, loc.Column = s.line, s.column
	text := "invalid YAML: " + s.problem
	if s.context != "" && s.ctxLine > 0 && (s.ctxLine != s.line || s.ctxColumn != s.column) {
		text += fmt.Sprintf(" (%s at line %d, column %d)", s.context, s.ctxLine, s.ctxColumn)
	}
	if hint := syntaxHint(s, src); hint != "" {
		text += "; " + hint
	}
	return loc, text
}

// readSyntax reads the error state of dec's parser. It checks every field it reads and that
// the parser's problem is the one in msg, so that a different yaml.v3 cannot make it report
// a wrong position: it then returns false.
func readSyntax(dec *yaml.Decoder, src *source, msg string) (s yamlSyntax, ok bool) {
	defer func() {
		if recover() != nil { // reflect on a layout it does not expect: fall back
			ok = false
		}
	}()
	p := reflect.ValueOf(dec).Elem().FieldByName("parser")
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return s, false
	}
	outer := p.Elem()
	y := outer.FieldByName("parser")
	if y.Kind() != reflect.Struct {
		return s, false
	}
	kind, ok1 := intField(y, "error")
	problem, ok2 := stringField(y, "problem")
	if !ok1 || !ok2 {
		return s, false
	}
	switch kind {
	case yamlReaderError:
		// Reader errors (control characters, bad UTF-8) carry a byte offset, not a mark.
		off, ok1 := intField(y, "problem_offset")
		val, ok2 := intField(y, "problem_value")
		if !ok1 || !ok2 || problem != msg || off < 0 || off > len(src.data) {
			return s, false
		}
		s.problem, s.value = problem, val
		s.line, s.column = offsetPosition(src.data, off)
		return s, true
	case yamlScannerError, yamlParserError:
		line, column, ok1 := markField(y, "problem_mark")
		ctx, ok2 := stringField(y, "context")
		ctxLine, ctxColumn, ok3 := markField(y, "context_mark")
		if !ok1 || !ok2 || !ok3 || problem != msg {
			return s, false
		}
		s.problem, s.value = problem, -1
		s.line, s.column = line+1, column+1
		if ctx != "" {
			s.context, s.ctxLine, s.ctxColumn = ctx, ctxLine+1, ctxColumn+1
		}
		return s, true
	case yamlNoError:
		// An error of yaml.v3's composer ("unknown anchor 'x' referenced"): at the event it
		// was composing.
		if !strings.HasPrefix(msg, "unknown anchor") {
			return s, false
		}
		ev := outer.FieldByName("event")
		if ev.Kind() != reflect.Struct {
			return s, false
		}
		line, column, ok := markField(ev, "start_mark")
		if !ok {
			return s, false
		}
		s.problem, s.value = msg, -1
		s.line, s.column = line+1, column+1
		return s, true
	}
	return s, false
}

func intField(v reflect.Value, name string) (int, bool) {
	f := v.FieldByName(name)
	if f.Kind() != reflect.Int {
		return 0, false
	}
	return int(f.Int()), true
}

func stringField(v reflect.Value, name string) (string, bool) {
	f := v.FieldByName(name)
	if f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}

// markField reads a yaml_mark_t: 0-based line and column.
func markField(v reflect.Value, name string) (line, column int, ok bool) {
	f := v.FieldByName(name)
	if f.Kind() != reflect.Struct {
		return 0, 0, false
	}
	line, ok1 := intField(f, "line")
	column, ok2 := intField(f, "column")
	return line, column, ok1 && ok2 && line >= 0 && column >= 0
}

// offsetPosition is the 1-based line and column (in characters, as yaml.v3 counts them) of
// the byte at off.
func offsetPosition(data []byte, off int) (line, column int) {
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// firstColumn is the 1-based column of the first character of line that is not a space or a
// tab, 1 for a blank line.
func firstColumn(line []byte) int {
	trimmed := bytes.TrimLeft(line, " \t")
	return utf8.RuneCount(line[:len(line)-len(trimmed)]) + 1
}

// syntaxHint says how to fix the most common syntax errors.
func syntaxHint(s yamlSyntax, src *source) string {
	at := func() rune {
		line := src.line(s.line)
		for i, col := 0, 1; i < len(line); col++ {
			r, n := utf8.DecodeRune(line[i:])
			if col == s.column {
				return r
			}
			i += n
		}
		return 0
	}
	eofLine, eofColumn := offsetPosition(src.data, len(src.data))
	atEOF := s.line == eofLine && s.column == eofColumn
	switch {
	case atEOF && strings.HasSuffix(s.context, "flow mapping"):
		return fmt.Sprintf("the { at line %d, column %d is never closed: close it with }", s.ctxLine, s.ctxColumn)
	case atEOF && strings.HasSuffix(s.context, "flow sequence"):
		return fmt.Sprintf("the [ at line %d, column %d is never closed: close it with ]", s.ctxLine, s.ctxColumn)
	case atEOF && s.problem == "did not find expected node content":
		return "the spec ends where a value is expected: complete the value or close the list or map it is in"
	case s.problem == "did not find expected ',' or '}'" && s.ctxLine > 0:
		return fmt.Sprintf("close the { at line %d, column %d with }, or separate its entries with commas", s.ctxLine, s.ctxColumn)
	case s.problem == "did not find expected ',' or ']'" && s.ctxLine > 0:
		return fmt.Sprintf("close the [ at line %d, column %d with ], or separate its items with commas", s.ctxLine, s.ctxColumn)
	case s.problem == "found character that cannot start any token":
		switch at() {
		case '\t':
			return "YAML indents with spaces, not tabs"
		case '@', '`':
			return "a value cannot start with @ or `: quote it"
		}
	case s.problem == "found unexpected end of stream" && strings.Contains(s.context, "quoted scalar"):
		return fmt.Sprintf("close the quote opened at line %d, column %d", s.ctxLine, s.ctxColumn)
	case s.problem == "mapping values are not allowed in this context":
		return `check the indentation of this line, or quote a value that holds ": "`
	case s.problem == "did not find expected key" || s.problem == "did not find expected '-' indicator":
		return "check the indentation of this line: it must line up with the entries above it"
	case s.problem == "could not find expected ':'":
		return "write key: value, or quote the text"
	case s.problem == "control characters are not allowed" && s.value >= 0:
		return fmt.Sprintf("remove the control character %U", s.value)
	}
	return ""
}
