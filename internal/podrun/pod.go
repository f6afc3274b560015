package podrun

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels and annotations the library puts on every pod it creates.
const (
	// LabelManagedBy is app.kubernetes.io/managed-by; its value is ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on the library's pods.
	ManagedBy = "preflight"
	// LabelRunID names the run that created the pod.
	LabelRunID = "preflight.dev/run-id"
	// LabelRequirement names the requirement (sanitised to a valid label value).
	LabelRequirement = "preflight.dev/requirement"
	// LabelNode names the node a fan-out pod was made for (sanitised); absent on single pods.
	LabelNode = "preflight.dev/node"
	// AnnotationRequirement holds the requirement id verbatim.
	AnnotationRequirement = "preflight.dev/requirement"
	// AnnotationNode holds the node name verbatim.
	AnnotationNode = "preflight.dev/node"
	// AnnotationDeadline is the RFC 3339 time after which the pod is of no use to its run;
	// Cleanup with Expired removes pods past it, including Pending pods, which
	// activeDeadlineSeconds does not cover.
	AnnotationDeadline = "preflight.dev/deadline"
)

// DefaultMaxPodLifetime is the server-side deadline (activeDeadlineSeconds) of pods whose
// command has no timeout.
const DefaultMaxPodLifetime = time.Hour

// deadlineSlack is added to the command timeout for the server-side deadline, so that the
// library's own timeout (with its clearer message) normally fires first.
const deadlineSlack = 5 * time.Second

// LabelValue returns s as a valid label value: at most 63 characters of [A-Za-z0-9._-],
// starting and ending with an alphanumeric. A value that had to change ends in a short hash
// of the original, so distinct inputs keep distinct values.
func LabelValue(s string) string {
	if isLabelValue(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	h := shortHash(s)
	base := strings.Trim(b.String(), "-_.")
	if max := 63 - len(h) - 1; len(base) > max {
		base = strings.TrimRight(base[:max], "-_.")
	}
	if base == "" {
		return h
	}
	return base + "-" + h
}

func isLabelValue(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '_' && c != '-' {
			return false
		}
		if (i == 0 || i == len(s)-1) && !alnum {
			return false
		}
	}
	return true
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// GenerateName returns the generateName prefix of a requirement's pods:
// "preflight-<id as a DNS label>-", short enough that the generated name stays a valid
// 63-character DNS label (the pod's hostname).
func GenerateName(requirementID string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(requirementID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	id := strings.Trim(b.String(), "-")
	const max = 63 - 5 - len("preflight--") // the server appends 5 random characters
	if len(id) > max {
		id = strings.TrimRight(id[:max], "-")
	}
	if id == "" {
		return "preflight-"
	}
	return "preflight-" + id + "-"
}

// Privileged reports whether spec asks for anything a Pod Security baseline forbids that
// matters for trust: a privileged container (or init or ephemeral container), a host
// namespace (hostPID, hostIPC, hostNetwork) or a hostPath volume.
func Privileged(spec *corev1.PodSpec) bool {
	if spec.HostPID || spec.HostIPC || spec.HostNetwork {
		return true
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			return true
		}
	}
	priv := func(sc *corev1.SecurityContext) bool { return sc != nil && sc.Privileged != nil && *sc.Privileged }
	for _, c := range spec.Containers {
		if priv(c.SecurityContext) {
			return true
		}
	}
	for _, c := range spec.InitContainers {
		if priv(c.SecurityContext) {
			return true
		}
	}
	for _, c := range spec.EphemeralContainers {
		if priv(c.SecurityContext) {
			return true
		}
	}
	return false
}

// podParams are what buildPod needs besides the template.
type podParams struct {
	runID         string
	requirementID string
	namespace     string
	node          string // "" for a single pod
	timeout       time.Duration
	now           time.Time
}

// activeDeadline returns the server-side deadline for a command timeout.
func activeDeadline(timeout time.Duration) int64 {
	d := DefaultMaxPodLifetime
	if timeout > 0 {
		d = timeout + deadlineSlack
	}
	return int64(math.Ceil(d.Seconds()))
}

// buildPod makes the pod to create from a template: a deep copy with the library's labels,
// generateName, restartPolicy Never, a server-side deadline, no service account token unless
// the template asks for one, FallbackToLogsOnError termination messages where unset, and,
// for a node of a fan-out, a required node affinity on the node's name (as the DaemonSet
// controller pins its pods, so that the scheduler still checks resources and taints and
// reports in its own words).
func buildPod(tmpl *corev1.Pod, p podParams) *corev1.Pod {
	src := tmpl.DeepCopy()
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: GenerateName(p.requirementID),
			Namespace:    p.namespace,
			Labels:       src.Labels,
			Annotations:  src.Annotations,
		},
		Spec: src.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Labels[LabelManagedBy] = ManagedBy
	pod.Labels[LabelRunID] = LabelValue(p.runID)
	pod.Labels[LabelRequirement] = LabelValue(p.requirementID)
	pod.Annotations[AnnotationRequirement] = p.requirementID
	deadline := activeDeadline(p.timeout)
	pod.Annotations[AnnotationDeadline] = p.now.Add(time.Duration(deadline) * time.Second).UTC().Format(time.RFC3339)

	s := &pod.Spec
	s.RestartPolicy = corev1.RestartPolicyNever
	if s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds > deadline {
		s.ActiveDeadlineSeconds = ptr.To(deadline)
	}
	if s.AutomountServiceAccountToken == nil {
		s.AutomountServiceAccountToken = ptr.To(false)
	}
	for i := range s.Containers {
		if s.Containers[i].TerminationMessagePolicy == "" {
			s.Containers[i].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		}
	}
	for i := range s.InitContainers {
		if s.InitContainers[i].TerminationMessagePolicy == "" {
			s.InitContainers[i].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		}
	}
	if p.node != "" {
		pod.Labels[LabelNode] = LabelValue(p.node)
		pod.Annotations[AnnotationNode] = p.node
		pinToNode(s, p.node)
		s.Tolerations = append(s.Tolerations, daemonTolerations(s.Tolerations)...)
	}
	return pod
}

// pinToNode adds a required node affinity term field metadata.name=node. Terms of a required
// node affinity are ORed, requirements within a term ANDed, so the field requirement goes into
// every existing term.
func pinToNode(s *corev1.PodSpec, node string) {
	req := corev1.NodeSelectorRequirement{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	if s.Affinity == nil {
		s.Affinity = &corev1.Affinity{}
	}
	if s.Affinity.NodeAffinity == nil {
		s.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := s.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}},
		}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = append(terms[i].MatchFields, req)
	}
}

// daemonTolerations are the NoSchedule tolerations a fan-out pod gets: those the DaemonSet
// controller adds for node conditions that do not stop a node from running a check (a
// cordoned node, resource pressure), and the NoSchedule form of not-ready and unreachable.
// Pods are only made for nodes whose Ready condition is True (the others are reported as not
// run, never silently skipped); the node lifecycle controller removes those taints some time
// after the node turns Ready (seconds, with many new nodes), and a check must not fail on that
// lag. The NoExecute forms are not tolerated: a node that goes NotReady mid-run evicts the
// pod, which is then reported as not run. Tolerations the template already has are not
// repeated.
func daemonTolerations(have []corev1.Toleration) []corev1.Toleration {
	var add []corev1.Toleration
	for _, key := range []string{
		"node.kubernetes.io/unschedulable",
		"node.kubernetes.io/disk-pressure",
		"node.kubernetes.io/memory-pressure",
		"node.kubernetes.io/pid-pressure",
		taintNotReady,
		taintUnreachable,
	} {
		t := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
		dup := false
		for i := range have {
			if have[i].MatchToleration(&t) {
				dup = true
				break
			}
		}
		if !dup {
			add = append(add, t)
		}
	}
	return add
}

// selectedContainer returns the name of the container whose exit code counts.
func selectedContainer(tmpl *corev1.Pod, name string) (string, error) {
	if len(tmpl.Spec.Containers) == 0 {
		return "", fmt.Errorf("the pod has no containers")
	}
	if name == "" {
		return tmpl.Spec.Containers[0].Name, nil
	}
	for _, c := range tmpl.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("the pod has no container %q", name)
}

// NewRunID returns a new run id: 10 random hex digits, short and a valid label value. The
// runner stamps each run with one; a scheduler command run without a runner makes its own.
func NewRunID() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
