package runner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/blang/semver/v4"

	"github.com/preflightkit/preflight/requirement"
)

// normalizeVersion checks a version given in Options (AppVersion, PreviousVersion) as a
// semantic version, the form CEL's semver() parses (github.com/blang/semver/v4, as
// Kubernetes' CEL library does), and returns it without a leading "v": "v1.9.0" gives
// "1.9.0", as Helm and kubectl write versions. The empty version stays empty (an install has
// no previous version).
func normalizeVersion(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	norm := strings.TrimPrefix(v, "v")
	if _, err := semver.Parse(norm); err != nil {
		return "", fmt.Errorf("not a semantic version (%v): give MAJOR.MINOR.PATCH with an optional -pre-release and +build, such as 1.9.0, v1.9.0 or 2.0.0-rc.1", err)
	}
	return norm, nil
}

// errNoPreviousVersion fails a requirement that reads app.previous_version on an upgrade run
// that was given none: it would otherwise fail inside CEL with semver's "Version string
// empty", which says nothing of the fix.
var errNoPreviousVersion = errors.New("app.previous_version is empty on an upgrade: give the version installed now " +
	"(--previous-version in the CLI, runner.Options.PreviousVersion in Go, previous_version when starting a run over HTTP)")

// needsPreviousVersion reports whether requirement req reads app.previous_version (in its
// when, conditions, message_expr or the K_expr keys of its command's data) while the run has
// none to give it on an upgrade (Upgrade or PostUpgrade). Requirements that do not read it
// run as usual.
func (s *state) needsPreviousVersion(req *requirement.Requirement) bool {
	if s.opts.PreviousVersion != "" || (s.opts.Phase != Upgrade && s.opts.Phase != PostUpgrade) {
		return false
	}
	const field = "app.previous_version"
	if req.When.Reads(field) {
		return true
	}
	for _, res := range req.Results {
		if (res.Condition != nil && res.Condition.Expr.Reads(field)) || res.MessageExpr.Reads(field) {
			return true
		}
	}
	for _, e := range req.Command.Expressions() {
		if e.Reads(field) {
			return true
		}
	}
	return false
}
