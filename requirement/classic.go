package requirement

import (
	"fmt"
	"regexp"
	"sort"
)

// The rest of the classic format: a whole replicated.yml loads. Its top-level keys other than
// custom_requirements, and the documents of the application's own Kubernetes objects, are
// accepted and reported as notes ("not used by preflight"), never silently taken for checks.

// classicTopLevel holds the top-level keys of a classic replicated.yml besides
// custom_requirements, with what to do instead where preflight has a replacement. The schema's
// requirementsDocument lists the same keys (a test keeps them in step).
var classicTopLevel = map[string]string{
	"replicated_api_version":   "",
	"name":                     "",
	"version":                  "",
	"release_notes":            "",
	"console_support_markdown": "",
	"properties":               "",
	"identity":                 "",
	"state":                    "",
	"backup":                   "",
	"monitors":                 "",
	"host_requirements":        "write each as a requirement: cluster facts (cluster.nodes[].capacity and allocatable) for cpu_cores and memory, disk_space_available for disk_space and docker_space, and a when on app.version for replicated_version",
	"cmds":                     "",
	"config":                   "its items are the vars: give their values with --set or --values",
	"admin_commands":           "",
	"custom_metrics":           "",
	"graphite":                 "",
	"statsd":                   "",
	"localization":             "",
	"components":               "a check that ran in a component's container is a scheduler command with an inline pod",
	"kubernetes":               "its requirements (server_version, api_versions, total_cores, total_memory) are requirements over cluster facts: semver(cluster.version), cluster.nodes",
	"swarm":                    "",
	"images":                   "",
	"support":                  "",
}

// note records a remark about the spec.
func (l *loader) note(loc Location, msg string) {
	l.notes = append(l.notes, Problem{Location: loc, Message: msg})
}

// classicNotes notes the classic top-level keys of a document's map m.
func (l *loader) classicNotes(d *document, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if _, ok := classicTopLevel[k]; ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg := "not used by preflight (a field of the classic replicated.yml)"
		if hint := classicTopLevel[k]; hint != "" {
			msg += "; " + hint
		}
		l.note(d.loc([]string{k}, atKey), msg)
	}
}

// onlyClassicKeys reports whether every key of m (there is at least one) is a classic
// top-level key: the document is a replicated.yml without custom_requirements.
func onlyClassicKeys(m map[string]any) bool {
	for k := range m {
		if _, ok := classicTopLevel[k]; !ok {
			return false
		}
	}
	return len(m) > 0
}

// kindName and groupVersion are what a Kubernetes object's kind and apiVersion look like.
var (
	kindName     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	groupVersion = regexp.MustCompile(`^([a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?v[0-9]+([a-z]+[0-9]+)?$`)
)

// otherObject reports whether m is a Kubernetes object other than a Pod (a classic
// replicated.yml's Deployments, Services, ConfigMaps, ...), and names it.
func otherObject(m map[string]any) (string, bool) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if kind == "Pod" || !kindName.MatchString(kind) || !groupVersion.MatchString(apiVersion) {
		return "", false
	}
	return fmt.Sprintf("%s %s", apiVersion, kind), true
}

// sortNotes orders notes as problems are ordered: by source, line and column.
func (l *loader) sortNotes() []Problem {
	if len(l.notes) == 0 {
		return nil
	}
	out := make([]keptProblem, len(l.notes))
	for i, n := range l.notes {
		out[i] = keptProblem{Problem: n, seq: i, file: l.problems.fileIndex(n.Location.File)}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].before(out[j]) })
	notes := make([]Problem, len(out))
	for i, k := range out {
		notes[i] = k.Problem
	}
	return notes
}

// podTemplates refuses the classic templates in a kind: Pod document's strings (a classic spec
// templated an image or an argument): the pod would run with them as written.
func (l *loader) podTemplates(d *document) {
	var walk func(v any, tokens []string)
	walk = func(v any, tokens []string) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], with(tokens, k))
			}
		case []any:
			for i, e := range x {
				walk(e, with(tokens, itoa(i)))
			}
		case string:
			if action.MatchString(x) {
				l.problem(d.loc(tokens, atValue), dataTemplateMessage(d.value, tokens, x, true))
			}
		}
	}
	walk(d.value, nil)
}
