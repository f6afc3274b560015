package podrun

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		in, want string
	}{
		{"license-file-exists", "license-file-exists"},
		{"node-1.example.com", "node-1.example.com"},
		{"Has Spaces/and:colons", "Has-Spaces-and-colons-" + shortHash("Has Spaces/and:colons")},
		{"-leading", "leading-" + shortHash("-leading")},
		{"", ""},
		{"???", shortHash("???")},
		{long, strings.Repeat("a", 63-9) + "-" + shortHash(long)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := LabelValue(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, validation.IsValidLabelValue(got), "must be a valid label value")
		})
	}
	assert.NotEqual(t, LabelValue("a b"), LabelValue("a/b"), "distinct inputs keep distinct values")
}

func TestGenerateName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"license-file-exists", "preflight-license-file-exists-"},
		{"Port_80 Free!", "preflight-port-80-free-"},
		{"***", "preflight-"},
		{strings.Repeat("x", 100), "preflight-" + strings.Repeat("x", 63-5-len("preflight--")) + "-"},
	}
	for _, tt := range tests {
		got := GenerateName(tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		name := got + "abcde" // what the server appends
		assert.Empty(t, validation.IsDNS1123Label(name), "generated name %q must be a DNS label", name)
	}
}

func template() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "license-checker", Labels: map[string]string{"team": "x"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "tester", Image: "busybox", Command: []string{"true"}}},
		},
	}
}

func TestBuildPod(t *testing.T) {
	tmpl := template()
	orig := tmpl.DeepCopy()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := buildPod(tmpl, podParams{runID: "run1", requirementID: "License OK", namespace: "ns", node: "node-a", timeout: 15 * time.Second, now: now})

	assert.Empty(t, cmp.Diff(orig, tmpl), "the template must not change")
	assert.Equal(t, "preflight-license-ok-", pod.GenerateName)
	assert.Empty(t, pod.Name)
	assert.Equal(t, "ns", pod.Namespace)
	assert.Equal(t, map[string]string{
		"team": "x", LabelManagedBy: ManagedBy, LabelRunID: "run1",
		LabelRequirement: LabelValue("License OK"), LabelNode: "node-a",
	}, pod.Labels)
	assert.Equal(t, "License OK", pod.Annotations[AnnotationRequirement])
	assert.Equal(t, "node-a", pod.Annotations[AnnotationNode])
	assert.Equal(t, "2026-01-02T03:04:25Z", pod.Annotations[AnnotationDeadline])
	assert.Equal(t, corev1.RestartPolicyNever, pod.Spec.RestartPolicy)
	assert.Equal(t, ptr.To[int64](20), pod.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, ptr.To(false), pod.Spec.AutomountServiceAccountToken)
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, pod.Spec.Containers[0].TerminationMessagePolicy)
	assert.Empty(t, pod.Spec.NodeName, "pinned by affinity, not nodeName, so the scheduler still checks the node")
	assert.Equal(t, []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
		{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}},
	}}}, pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms)
	assert.Len(t, pod.Spec.Tolerations, 6, "the DaemonSet tolerations for cordoned and pressured nodes, and the lagging not-ready taints")
	assert.False(t, Privileged(&pod.Spec), "nothing privileged is added")
}

func TestBuildPodKeepsTemplateChoices(t *testing.T) {
	tmpl := template()
	tmpl.Spec.AutomountServiceAccountToken = ptr.To(true)
	tmpl.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyAlways
	tmpl.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageReadFile
	tmpl.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
		}},
	}}
	tmpl.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/unschedulable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	pod := buildPod(tmpl, podParams{runID: "r", requirementID: "x", namespace: "ns", node: "n1", timeout: 0, now: time.Unix(0, 0)})

	assert.Equal(t, ptr.To(true), pod.Spec.AutomountServiceAccountToken, "the spec asked for a token")
	assert.Equal(t, ptr.To[int64](3), pod.Spec.ActiveDeadlineSeconds, "a shorter template deadline is kept")
	assert.Equal(t, corev1.RestartPolicyNever, pod.Spec.RestartPolicy, "a check runs once")
	assert.Equal(t, corev1.TerminationMessageReadFile, pod.Spec.Containers[0].TerminationMessagePolicy)
	for _, term := range pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		require.Len(t, term.MatchFields, 1, "every ORed term is ANDed with the node")
		assert.Equal(t, []string{"n1"}, term.MatchFields[0].Values)
	}
	assert.Len(t, pod.Spec.Tolerations, 6, "an existing toleration is not repeated")

	single := buildPod(template(), podParams{runID: "r", requirementID: "x", namespace: "ns", now: time.Unix(0, 0)})
	assert.Nil(t, single.Spec.Affinity)
	assert.NotContains(t, single.Labels, LabelNode)
	assert.Equal(t, ptr.To(int64(DefaultMaxPodLifetime.Seconds())), single.Spec.ActiveDeadlineSeconds, "no timeout still has a server-side deadline")
}

func TestPrivileged(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*corev1.PodSpec)
		want bool
	}{
		{"plain", func(*corev1.PodSpec) {}, false},
		{"hostPID", func(s *corev1.PodSpec) { s.HostPID = true }, true},
		{"hostIPC", func(s *corev1.PodSpec) { s.HostIPC = true }, true},
		{"hostNetwork", func(s *corev1.PodSpec) { s.HostNetwork = true }, true},
		{"hostPath", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		}, true},
		{"emptyDir", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, false},
		{"privileged container", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, true},
		{"privileged false", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(false)}
		}, false},
		{"privileged init container", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := template()
			tt.mod(&p.Spec)
			assert.Equal(t, tt.want, Privileged(&p.Spec))
		})
	}
}

func TestRunConfigDoesNotMutate(t *testing.T) {
	cfg := &rest.Config{Host: "https://example.invalid", QPS: 5, Burst: 10, UserAgent: "installer/1.0",
		BearerToken: "t"}
	orig := rest.CopyConfig(cfg)
	got := RunConfig(cfg, Options{})
	assert.Equal(t, orig, cfg, "the caller's config must not change")
	assert.Equal(t, float32(DefaultQPS), got.QPS)
	assert.Equal(t, DefaultBurst, got.Burst)
	assert.Equal(t, "installer/1.0 "+UserAgent, got.UserAgent)
	assert.Equal(t, "https://example.invalid", got.Host)
	got.Host = "changed"
	assert.Equal(t, "https://example.invalid", cfg.Host)

	got = RunConfig(cfg, Options{QPS: 7, Burst: 9})
	assert.Equal(t, float32(7), got.QPS)
	assert.Equal(t, 9, got.Burst)

	_, err := New(cfg, Options{RunID: "r"})
	require.NoError(t, err)
	assert.Equal(t, orig, cfg, "New must not change the caller's config either")
}
