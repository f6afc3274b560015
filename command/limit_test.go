package command

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		writes    []string
		want      string
		truncated bool
	}{
		{"nothing", 4, nil, "", false},
		{"under", 4, []string{"ab"}, "ab", false},
		{"exactly", 4, []string{"ab", "cd"}, "abcd", false},
		{"over in one write", 4, []string{"abcdef"}, "abcd", true},
		{"over across writes", 4, []string{"abc", "def", "g"}, "abcd", true},
		{"empty write at the limit", 2, []string{"ab", ""}, "ab", false},
		{"zero limit", 0, []string{"a"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCappedBuffer(tt.limit)
			for _, w := range tt.writes {
				n, err := c.Write([]byte(w))
				assert.NoError(t, err)
				assert.Equal(t, len(w), n, "a write is always taken whole")
			}
			assert.Equal(t, tt.want, c.String())
			assert.Equal(t, tt.truncated, c.Truncated())
		})
	}
}

func TestReadCapped(t *testing.T) {
	tests := []struct {
		name      string
		r         io.Reader
		limit     int
		want      string
		truncated bool
		err       error
	}{
		{"short", strings.NewReader("hello"), 10, "hello", false, nil},
		{"exactly the limit", strings.NewReader("hello"), 5, "hello", false, nil},
		{"one byte over", strings.NewReader("hello!"), 5, "hello", true, nil},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader("hello world")), 5, "hello", true, nil},
		{"error after data", io.MultiReader(strings.NewReader("he"), iotest.ErrReader(errors.New("boom"))), 5, "he", false, errors.New("boom")},
		{"endless stream stops at the limit", endless{}, 1 << 20, strings.Repeat("y", 1<<20), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, truncated, err := readCapped(tt.r, tt.limit)
			assert.Equal(t, tt.want, s)
			assert.Equal(t, tt.truncated, truncated)
			assert.Equal(t, tt.err, err)
		})
	}
}

// endless reads as an infinite stream of "y".
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func TestDescribeType(t *testing.T) {
	tests := []struct {
		data, want string
	}{
		{`{"a": 1}`, `data.a: must be a string, not number`},
		{`{"b": "x"}`, `data.b: must be a boolean (true or false), not string`},
		{`{"n": "x"}`, `data.n: must be an integer, not string`},
		{`{"l": "x"}`, `data.l: must be an array of strings, not string`},
		{`{"l": ["a", 2]}`, `data.l[1]: must be a string, not number`},
		{`{"ll": [["a"], "b"]}`, `data.ll[1]: must be an array of strings, not string`},
		{`{"ll": 1}`, `data.ll: must be an array of arrays of strings, not number`},
		{`{"mb": {"x": true, "y": 1}}`, `data.mb[y]: must be a boolean (true or false), not number`},
		{`{"mb": 1}`, `data.mb: must be a map of booleans (true or false), not number`},
		{`{"o": 1}`, `data.o: must be an object, not number`},
		{`{"o": {"x": 1}}`, `data.o.x: must be a string, not number`},
		{`[1]`, `data: must be an object, not array`},
	}
	type inner struct {
		X string `json:"x"`
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			var v struct {
				A  string            `json:"a"`
				B  bool              `json:"b"`
				N  int               `json:"n"`
				L  []string          `json:"l"`
				LL [][]string        `json:"ll"`
				MB map[string]bool   `json:"mb"`
				O  inner             `json:"o"`
				M  map[string]string `json:"m"`
			}
			errs := decodeStrict(dataRoot, []byte(tt.data), &v)
			if assert.Len(t, errs, 1) {
				assert.Equal(t, tt.want, errs[0].Field+": "+errs[0].Detail)
			}
		})
	}
}

// dataErrText renders a Prepare error as the loader shows it: "path: detail", one a line.
func dataErrText(err error) string {
	if err == nil {
		return ""
	}
	var list []error
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		list = agg.Errors()
	} else {
		list = []error{err}
	}
	lines := make([]string, len(list))
	for i, e := range list {
		var fe *field.Error
		switch {
		case errors.As(e, &fe) && fe.Type == field.ErrorTypeRequired:
			lines[i] = fe.Field + ": required: " + fe.Detail
		case errors.As(e, &fe):
			lines[i] = fe.Field + ": " + fe.Detail
		default:
			lines[i] = e.Error()
		}
	}
	return strings.Join(lines, "\n")
}
