package requirement

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestSyntaxErrorFallback checks what is reported when the parser's state cannot be read
// (a decoder that has not failed stands for another yaml.v3): the message's line and the
// first column of that line that is not blank, never a made-up column 1.
func TestSyntaxErrorFallback(t *testing.T) {
	src := &source{name: "s.yaml", data: []byte("a: 1\n    b: c: d\n")}
	dec := yaml.NewDecoder(bytes.NewReader(nil))
	loc, msg := syntaxError(dec, src, errors.New("yaml: line 2: mapping values are not allowed in this context"))
	require.Equal(t, Location{File: "s.yaml", Line: 2, Column: 5}, loc)
	require.Equal(t, "invalid YAML: mapping values are not allowed in this context", msg)
	// A decoder whose problem is another one than the error's is not trusted either.
	var n yaml.Node
	dec = yaml.NewDecoder(bytes.NewReader([]byte("a: [\n")))
	require.Error(t, dec.Decode(&n))
	loc, _ = syntaxError(dec, src, errors.New("yaml: line 2: mapping values are not allowed in this context"))
	require.Equal(t, Location{File: "s.yaml", Line: 2, Column: 5}, loc)
}
