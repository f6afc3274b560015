package requirement_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
)

// TestYAMLSyntaxPositions checks that a YAML syntax error points at the line and column
// where the parser gave up, not at the line yaml.v3's message names (the enclosing
// construct's, 0-based for parser errors, none on the first line), and says what encloses
// it and how to fix it.
func TestYAMLSyntaxPositions(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"unclosed flow mapping", "custom_requirements:\n- id: x\n  command: {id: exec, data: {cmd: [ls]}\n  results: [{status: success}]\n",
			4, 3, `invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 3, column 12); close the { at line 3, column 12 with }, or separate its entries with commas`},
		{"colon in a plain value", "a: 1\nb: c: d\n",
			2, 5, `invalid YAML: mapping values are not allowed in this context; check the indentation of this line, or quote a value that holds ": "`},
		{"column counts characters", "é: ü\nbé: c: d\n",
			2, 6, "invalid YAML: mapping values are not allowed in this context"},
		{"bad indentation", "a:\n  b:\n    c: 1\n   d: 2\n",
			4, 4, "invalid YAML: did not find expected key (while parsing a block mapping at line 2, column 3); check the indentation of this line"},
		{"tab", "a:\n\tb: 1\n",
			2, 1, "invalid YAML: found character that cannot start any token; YAML indents with spaces, not tabs"},
		{"unclosed quote", "a: \"unclosed\nb: 2\n",
			3, 1, "invalid YAML: found unexpected end of stream (while scanning a quoted scalar at line 1, column 4); close the quote opened at line 1, column 4"},
		{"error on the first line", "a: 'x' y\n",
			1, 8, "invalid YAML: did not find expected key"},
		{"reserved character", "a: 1\nb: @x\n",
			2, 4, "invalid YAML: found character that cannot start any token; a value cannot start with @ or `: quote it"},
		{"control character", "a: b\nc: d\x01\n",
			2, 5, "invalid YAML: control characters are not allowed; remove the control character U+0001"},
		{"invalid UTF-8", "a: b\nc: \xff\n",
			2, 4, "invalid YAML: invalid leading UTF-8 octet"},
		{"unknown alias", "a: 1\nb: *nope\n",
			2, 4, "invalid YAML: unknown anchor 'nope' referenced"},
		{"second document", "custom_requirements: []\n---\nb: [\n",
			4, 1, "invalid YAML: did not find expected node content; the spec ends where a value is expected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, requirement.LoadOptions{}, tc.src)
			ps := problems(t, err)
			p := ps[len(ps)-1]
			require.Equal(t, requirement.Location{File: "spec.yaml", Line: tc.line, Column: tc.col}, p.Location, "%v", err)
			require.True(t, strings.HasPrefix(p.Message, tc.msg), "message %q\nwant prefix %q", p.Message, tc.msg)
		})
	}
}
