package cli

import (
	"regexp"
	"strings"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/runner"
)

// flagWording rewrites what the library says to Go callers (the fields of runner.Options) in
// the words of the CLI's users: its flags and the environment. The library's texts it matches
// are its own: command.ErrNoCluster's, the fixes of a cut output and of a used-up output
// budget (which has no flag), of an upgrade without a previous version, and of rbac's data left uncomputed; a test fails when one of them changes and leaks through.
var flagWording = strings.NewReplacer(
	command.ErrNoCluster.Error(), "no cluster configuration was given: pass --kubeconfig or set KUBECONFIG",
	"(runner.Options.OutputLimit; preflight run --output-limit)", "(--output-limit)",
	" (Options.OutputBudget)", "",
	"(--previous-version in the CLI, runner.Options.PreviousVersion in Go, previous_version when starting a run over HTTP)", "(--previous-version)",
	"(give them as the run does: Options.Vars, AppVersion, Phase; --set, --values, --app-version, --phase)", "(give them as to run: --set, --values, --app-version, --phase)",
)

// loaderLimit matches where the loader names the field of requirement.Limits that a spec
// went past: the CLI has no flag for them, so it says only that a limit was reached.
var loaderLimit = regexp.MustCompile(`(\(the limit), Limits\.Max[A-Za-z]+| \(Limits\.MaxAliases is 0\)`)

// cliWords returns s in the CLI's words (flagWording, loaderLimit).
func cliWords(s string) string {
	s = flagWording.Replace(s)
	if strings.Contains(s, "Limits.Max") {
		s = loaderLimit.ReplaceAllString(s, "$1")
	}
	return s
}

// reword puts every text of d in the CLI's words, before it is printed.
func reword(d *runner.Decision) {
	d.Error = cliWords(d.Error)
	for i := range d.Requirements {
		r := &d.Requirements[i]
		r.Message, r.Error, r.ConditionError = cliWords(r.Message), cliWords(r.Error), cliWords(r.ConditionError)
		for j := range r.Notes {
			r.Notes[j] = cliWords(r.Notes[j])
		}
		for j := range r.Nodes {
			n := &r.Nodes[j]
			n.Message, n.Error, n.ConditionError, n.NotRun = cliWords(n.Message), cliWords(n.Error), cliWords(n.ConditionError), cliWords(n.NotRun)
		}
	}
}
