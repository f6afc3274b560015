package podrun

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Taints the node lifecycle controller puts on nodes that are not ready; they follow from
// the Ready condition, which scope reports itself (as not run), so they never exclude a node.
const (
	taintNotReady    = "node.kubernetes.io/not-ready"
	taintUnreachable = "node.kubernetes.io/unreachable"
)

// Excluded is a node a fan-out left out of its scope, and why.
type Excluded struct {
	Node   string
	Reason string
}

// scope is where a fan-out runs.
type scope struct {
	run      []string   // nodes to run on, sorted
	notRun   []Excluded // nodes in scope that cannot run the check (reason)
	excluded []Excluded // nodes out of scope (reason)
}

// nodeScope decides, DaemonSet-style, which nodes a fan-out of tmpl covers. nodes are those
// matching the requirement's node_selector. A node whose NoSchedule or NoExecute taint the pod
// does not tolerate, or whose labels do not match the pod's own nodeSelector, is out of scope
// (excluded). A node in scope that is not Ready (or is being deleted) is not run, with the
// reason; with readyOnly it is excluded instead, with the reason suffixed by
// "(ready_nodes_only)".
func nodeScope(tmpl *corev1.Pod, nodes []corev1.Node, readyOnly bool) scope {
	var sc scope
	sel := labels.SelectorFromSet(tmpl.Spec.NodeSelector)
	tols := append(append([]corev1.Toleration(nil), tmpl.Spec.Tolerations...), daemonTolerations(tmpl.Spec.Tolerations)...)
	for i := range nodes {
		n := &nodes[i]
		if len(tmpl.Spec.NodeSelector) > 0 && !sel.Matches(labels.Set(n.Labels)) {
			sc.excluded = append(sc.excluded, Excluded{n.Name, "does not match the pod's nodeSelector " + sel.String()})
			continue
		}
		if t := untolerated(n.Spec.Taints, tols); t != nil {
			sc.excluded = append(sc.excluded, Excluded{n.Name, "taint " + taintString(t) + " not tolerated"})
			continue
		}
		if reason := notReady(n); reason != "" {
			if readyOnly {
				sc.excluded = append(sc.excluded, Excluded{n.Name, reason + " (ready_nodes_only)"})
			} else {
				sc.notRun = append(sc.notRun, Excluded{n.Name, reason})
			}
			continue
		}
		sc.run = append(sc.run, n.Name)
	}
	sort.Strings(sc.run)
	byNode := func(s []Excluded) { sort.Slice(s, func(i, j int) bool { return s[i].Node < s[j].Node }) }
	byNode(sc.notRun)
	byNode(sc.excluded)
	return sc
}

// untolerated returns the first NoSchedule or NoExecute taint that no toleration tolerates,
// ignoring the not-ready and unreachable taints.
func untolerated(taints []corev1.Taint, tols []corev1.Toleration) *corev1.Taint {
	for i := range taints {
		t := &taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule || t.Key == taintNotReady || t.Key == taintUnreachable {
			continue
		}
		ok := false
		for j := range tols {
			if tols[j].ToleratesTaint(logr.Discard(), t, true) {
				ok = true
				break
			}
		}
		if !ok {
			return t
		}
	}
	return nil
}

func taintString(t *corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s:%s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
}

// notReady returns why a node cannot run a check now, or "" when it can.
func notReady(n *corev1.Node) string {
	if n.DeletionTimestamp != nil {
		return "node is being deleted"
	}
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return ""
		case corev1.ConditionUnknown:
			return "node unreachable (Ready=Unknown" + reasonSuffix(c.Reason, c.Message) + ")"
		default:
			return "node NotReady (Ready=False" + reasonSuffix(c.Reason, c.Message) + ")"
		}
	}
	return "node NotReady (no Ready condition reported)"
}

func reasonSuffix(reason, message string) string {
	var parts []string
	if reason != "" {
		parts = append(parts, reason)
	}
	if message != "" {
		parts = append(parts, message)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ": ")
}
