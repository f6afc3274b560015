package runner

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/requirement"
)

func TestVersionsNormalised(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "", want: ""},
		{in: "1.9.0", want: "1.9.0"},
		{in: "v1.9.0", want: "1.9.0"},
		{in: "v2.0.0-rc.1+build.7", want: "2.0.0-rc.1+build.7"},
		{in: "1.9", err: "not a semantic version (No Major.Minor.Patch elements found): give MAJOR.MINOR.PATCH with an optional -pre-release and +build, such as 1.9.0, v1.9.0 or 2.0.0-rc.1"},
		{in: "vv1.9.0", err: "not a semantic version (Invalid character(s) found in major number \"v1\")"},
		{in: "latest", err: "not a semantic version"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeVersion(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// CEL sees the normalised version: semver() takes "v1.9.0" as given to the options.
func TestVersionWithVInCEL(t *testing.T) {
	below2 := when(t, `semver(app.previous_version).isLessThan(semver("2.0.0")) && app.version == "2.0.0"`)
	d := mustRun(t, Options{Phase: Upgrade, PreviousVersion: "v1.9.0", AppVersion: "v2.0.0"}, spec(newReq("migrate", exit(0), below2)))
	assert.Equal(t, StatusPass, d.Requirements[0].Status, d.Requirements[0].Error)
}

// An upgrade run without a previous version fails exactly the requirements that read
// app.previous_version, with the fix, not semver's "Version string empty".
func TestUpgradeWithoutPreviousVersion(t *testing.T) {
	readsInWhen := when(t, `phase == "upgrade" && semver(app.previous_version).isLessThan(semver("2.0.0"))`)
	readsInCondition := results(
		requirement.Result{Status: requirement.StatusSuccess, Message: requirement.Message{Text: "ok"},
			Condition: &requirement.Condition{Expr: compile(t, `app.previous_version != "1.0.0"`, analyzer.ScopeCondition)}},
	)
	readsOtherFields := when(t, `app.version == "" && app.namespace == "default"`)
	reqs := func() *requirement.Spec {
		return spec(
			newReq("when", exit(0), readsInWhen),
			newReq("condition", exit(0), readsInCondition),
			newReq("other-fields", exit(0), readsOtherFields),
			newReq("plain", exit(0)),
		)
	}
	for _, phase := range []Phase{Upgrade, PostUpgrade} {
		t.Run(string(phase), func(t *testing.T) {
			d := mustRun(t, Options{Phase: phase}, reqs())
			for _, id := range []string{"when", "condition"} {
				r := byID(d, id)
				assert.Equal(t, StatusFail, r.Status, id)
				assert.Contains(t, r.Error, "app.previous_version is empty on an upgrade", id)
				assert.Contains(t, r.Error, "--previous-version", id)
				assert.Contains(t, r.Error, "Options.PreviousVersion", id)
				assert.NotContains(t, r.Error, "Version string empty", id)
				assert.True(t, errors.Is(r.Err, errNoPreviousVersion), id)
			}
			assert.Equal(t, StatusPass, byID(d, "other-fields").Status, byID(d, "other-fields").Error)
			assert.Equal(t, StatusPass, byID(d, "plain").Status)
		})
	}
	t.Run("install is unaffected", func(t *testing.T) {
		d := mustRun(t, Options{Phase: Install}, reqs())
		assert.Equal(t, StatusSkipped, byID(d, "when").Status, "phase == \"upgrade\" is false")
		assert.Equal(t, StatusPass, byID(d, "condition").Status)
	})
	t.Run("given", func(t *testing.T) {
		d := mustRun(t, Options{Phase: Upgrade, PreviousVersion: "1.4.2"}, reqs())
		assert.Equal(t, StatusPass, byID(d, "when").Status, byID(d, "when").Error)
		assert.Equal(t, StatusPass, byID(d, "condition").Status)
	})
}
