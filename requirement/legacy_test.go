package requirement

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
)

// TestTranslateTemplate checks the CEL suggested for classic templates, and that every
// suggestion compiles in its scope: the hint must be something the user can paste.
func TestTranslateTemplate(t *testing.T) {
	tests := []struct {
		tmpl  string
		scope analyzer.Scope
		want  string // "" means no translation
	}{
		{`{{repl ConfigOptionEquals "tier" "prod" }}`, analyzer.ScopeWhen, `vars.tier == "prod"`},
		{`repl{{ ConfigOptionNotEquals "ingress-type" "none" }}`, analyzer.ScopeWhen, `vars["ingress-type"] != "none"`},
		{`{{repl IsUpgrade }}`, analyzer.ScopeWhen, `phase == "upgrade"`},
		{`{{repl not IsUpgrade }}`, analyzer.ScopeWhen, `!(phase == "upgrade")`},
		{`{{repl ConfigOption "enable_x" }}`, analyzer.ScopeWhen, `vars.enable_x == "1"`},
		{`{{repl eq (ConfigOption "n") "3" }}`, analyzer.ScopeWhen, `vars.n == "3"`},
		{`{{repl or (ConfigOptionEquals "a" "1") (ConfigOptionEquals "b" "1") }}`, analyzer.ScopeWhen, `(vars.a == "1") || (vars.b == "1")`},
		{`{{repl if IsUpgrade }}true{{repl else }}false{{repl end }}`, analyzer.ScopeWhen, `phase == "upgrade"`},
		{`{{repl if IsUpgrade }}false{{repl else }}true{{repl end }}`, analyzer.ScopeWhen, `!(phase == "upgrade")`},
		{`{{repl if IsInstall }}true{{repl end }}`, analyzer.ScopeWhen, `phase == "install"`},
		{`{{repl eq .StatusCode 0 }}`, analyzer.ScopeCondition, `status_code == 0`},
		{`{{repl and (eq .StatusCode 0) (ne (Trim .Result) "") }}`, analyzer.ScopeCondition, `(status_code == 0) && (stdout.trim() != "")`},
		{`{{repl gt .StatusCode 1 }}`, analyzer.ScopeCondition, `status_code > 1`},
		{`{{repl eq .Error "" }}`, analyzer.ScopeCondition, `error == ""`},
		// Output fields do not exist in when; unknown functions, text around, broken syntax.
		{`{{repl eq .StatusCode 0 }}`, analyzer.ScopeWhen, ""},
		{`{{repl LicenseFieldValue "x" }}`, analyzer.ScopeWhen, ""},
		{`x {{repl IsUpgrade }}`, analyzer.ScopeWhen, ""},
		{`{{repl eq "unterminated }}`, analyzer.ScopeWhen, ""},
		{`{{repl eq (IsUpgrade }}`, analyzer.ScopeWhen, ""},
		{`{{repl }}`, analyzer.ScopeWhen, ""},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			got, ok := translateTemplate(tc.tmpl, tc.scope)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want != "", ok)
			if ok {
				_, err := analyzer.Compile(got, tc.scope)
				require.NoError(t, err, "the suggestion must compile")
			}
		})
	}
}
