package requirement

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"

	"github.com/preflightkit/preflight/analyzer"
)

func TestMessageRender(t *testing.T) {
	in := &analyzer.Input{StatusCode: 3, Stdout: "  v1.2.3\n", Error: "boom"}
	tests := []struct {
		name string
		msg  Message
		in   *analyzer.Input
		want string
	}{
		{"plain", Message{Text: "File exists."}, in, "File exists."},
		{"placeholders", Message{Text: "{{.a}} and {{ .b }}", Args: map[string]string{"a": "x", "b": "y"}}, in, "x and y"},
		{"classic args", Message{Text: "code={{ .c }} out=[{{.o}}] trimmed=[{{.t}}] err={{.e}}",
			Args: map[string]string{"c": "{{repl .StatusCode }}", "o": "{{ repl .Result }}", "t": "{{repl Trim .Result}}", "e": "{{repl .Error }}"}},
			in, "code=3 out=[  v1.2.3\n] trimmed=[v1.2.3] err=boom"},
		{"classic inside an arg's text", Message{Text: "{{ .v }}", Args: map[string]string{"v": "version {{repl Trim .Result }} found"}}, in, "version v1.2.3 found"},
		{"classic in the text", Message{Text: "got {{repl Trim .Result }}"}, in, "got v1.2.3"},
		{"no input renders classic empty", Message{Text: "[{{ .c }}]", Args: map[string]string{"c": "{{repl .StatusCode }}"}}, nil, "[]"},
		{"missing arg stays as written", Message{Text: "{{ .nope }}!"}, in, "{{ .nope }}!"},
		{"templates are not executed", Message{Text: `{{ .a }} {{ printf "%d" 1 }}`, Args: map[string]string{"a": `{{ index . "x" }}`}}, in, `{{ index . "x" }} {{ printf "%d" 1 }}`},
		{"arg values are not expanded again", Message{Text: "{{ .a }}", Args: map[string]string{"a": "{{ .b }}", "b": "no"}}, in, "{{ .b }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.msg.Render(tt.in))
		})
	}
}

func TestMessageRenderCapped(t *testing.T) {
	in := &analyzer.Input{Stdout: strings.Repeat("é", 1<<20)}
	msg := Message{Text: "out: {{ .o }} end", Args: map[string]string{"o": "{{repl .Result }}"}}
	got := msg.Render(in)
	assert.LessOrEqual(t, len(got), maxMessageBytes)
	assert.True(t, strings.HasPrefix(got, "out: éé"))
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.True(t, strings.ToValidUTF8(got, "?") == got, "cut at a rune boundary")

	long := Message{Text: strings.Repeat("a", 10000)}
	assert.Len(t, long.Render(nil), maxMessageBytes)
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want []string
	}{
		{"plain", Message{Text: "fine"}, nil},
		{"all supported", Message{Text: "{{ .a }} {{.b}} {{repl .Error }}",
			Args: map[string]string{"a": "{{repl .StatusCode }}", "b": "x {{ repl Trim .Result }} y", "unused": "z"}}, nil},
		{"missing arg", Message{Text: "{{ .a }} {{ .b }}", Args: map[string]string{"a": "1"}},
			[]string{`{{ .b }} has no value: args has no "b" (args has a)`}},
		{"missing arg, no args", Message{Text: "{{ .b }}"},
			[]string{`{{ .b }} has no value: args has no "b" (args is empty)`}},
		{"unsupported in text", Message{Text: "{{ if .x }}y{{ end }}"},
			[]string{
				"unsupported template {{ if .x }}: supported are " + supportedTemplates,
				"unsupported template {{ end }}: supported are " + supportedTemplates,
			}},
		{"unsupported in args", Message{Text: "{{ .a }}", Args: map[string]string{"a": "{{repl .Stdout }}", "b": "{{ .a }}"}},
			[]string{
				"args.a: unsupported template {{repl .Stdout }}: an arg may use {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}",
				"args.b: unsupported template {{ .a }}: an arg may use {{repl .StatusCode }}, {{repl .Result }}, {{repl .Error }}, {{repl Trim .Result }}",
			}},
		{"not an identifier", Message{Text: "{{ .1a }} {{ . a }} {{repl Trim Trim .Result }}"},
			[]string{
				"unsupported template {{ .1a }}: supported are " + supportedTemplates,
				"unsupported template {{ . a }}: supported are " + supportedTemplates,
				"unsupported template {{repl Trim Trim .Result }}: supported are " + supportedTemplates,
			}},
		{"white space and Trim of an error", Message{Text: "{{repl\tTrim   .Error}}{{.a_1}}", Args: map[string]string{"a_1": "{{  repl .Result  }}"}}, nil},
		{"unclosed", Message{Text: "{{ .a", Args: map[string]string{"x": "{{repl .Result"}},
			[]string{"{{ is not closed with }}", "args.x: {{ is not closed with }}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
