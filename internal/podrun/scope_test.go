package podrun

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, ready corev1.ConditionStatus, taints ...corev1.Taint) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	n.Spec.Taints = taints
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady"}}
	}
	return n
}

func TestNodeScopeTaints(t *testing.T) {
	kwok := corev1.Taint{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}
	cp := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	exec := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute}
	soft := corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
	cordon := corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name   string
		tols   []corev1.Toleration
		taints []corev1.Taint
		want   string // "" in scope, otherwise the exclusion reason
	}{
		{"no taints", nil, nil, ""},
		{"NoSchedule not tolerated", nil, []corev1.Taint{kwok}, "taint kwok.x-k8s.io/node=fake:NoSchedule not tolerated"},
		{"NoSchedule tolerated by key and value", []corev1.Toleration{{Key: kwok.Key, Value: "fake", Effect: corev1.TaintEffectNoSchedule}}, []corev1.Taint{kwok}, ""},
		{"value mismatch", []corev1.Toleration{{Key: kwok.Key, Value: "real"}}, []corev1.Taint{kwok}, "taint kwok.x-k8s.io/node=fake:NoSchedule not tolerated"},
		{"Exists on key", []corev1.Toleration{{Key: kwok.Key, Operator: corev1.TolerationOpExists}}, []corev1.Taint{kwok}, ""},
		{"tolerate everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Taint{kwok, cp, exec}, ""},
		{"effect mismatch", []corev1.Toleration{{Key: exec.Key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, []corev1.Taint{exec}, "taint dedicated=gpu:NoExecute not tolerated"},
		{"control plane without value", nil, []corev1.Taint{cp}, "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"},
		{"PreferNoSchedule never excludes", nil, []corev1.Taint{soft}, ""},
		{"cordoned node is in scope, as for a DaemonSet", nil, []corev1.Taint{cordon}, ""},
		{"second taint not tolerated", []corev1.Toleration{{Key: kwok.Key, Operator: corev1.TolerationOpExists}}, []corev1.Taint{kwok, cp}, "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := template()
			tmpl.Spec.Tolerations = tt.tols
			sc := nodeScope(tmpl, []corev1.Node{node("n1", corev1.ConditionTrue, tt.taints...)}, false)
			if tt.want == "" {
				assert.Equal(t, []string{"n1"}, sc.run)
				assert.Empty(t, sc.excluded)
			} else {
				assert.Empty(t, sc.run)
				assert.Equal(t, []Excluded{{"n1", tt.want}}, sc.excluded)
			}
			assert.Empty(t, sc.notRun)
		})
	}
}

func TestNodeScopeReadiness(t *testing.T) {
	notReadyTaint := corev1.Taint{Key: taintNotReady, Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: taintUnreachable, Effect: corev1.TaintEffectNoExecute}
	tainted := corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}
	deleting := node("d", corev1.ConditionTrue)
	deleting.DeletionTimestamp = &metav1.Time{}
	nodes := []corev1.Node{
		node("ready", corev1.ConditionTrue),
		node("down", corev1.ConditionFalse, notReadyTaint),
		node("gone", corev1.ConditionUnknown, unreachable),
		node("new", ""),
		node("tainted-down", corev1.ConditionFalse, tainted),
		deleting,
	}
	nodes[1].Status.Conditions[0].Reason = "KubeletNotReady"
	nodes[1].Status.Conditions[0].Message = "container runtime is down"
	nodes[2].Status.Conditions[0].Reason = "NodeStatusUnknown"
	nodes[2].Status.Conditions[0].Message = "Kubelet stopped posting node status."

	sc := nodeScope(template(), nodes, false)
	assert.Equal(t, []string{"ready"}, sc.run)
	assert.Empty(t, cmp.Diff([]Excluded{
		{"d", "node is being deleted"},
		{"down", "node NotReady (Ready=False: KubeletNotReady: container runtime is down)"},
		{"gone", "node unreachable (Ready=Unknown: NodeStatusUnknown: Kubelet stopped posting node status.)"},
		{"new", "node NotReady (no Ready condition reported)"},
	}, sc.notRun), "NotReady nodes in scope are not run, never dropped; their not-ready taints do not exclude them")
	assert.Equal(t, []Excluded{{"tainted-down", "taint x:NoSchedule not tolerated"}}, sc.excluded, "out of scope first, whatever its state")

	sc = nodeScope(template(), nodes, true)
	assert.Equal(t, []string{"ready"}, sc.run)
	assert.Empty(t, sc.notRun)
	assert.Contains(t, sc.excluded, Excluded{"down", "node NotReady (Ready=False: KubeletNotReady: container runtime is down) (ready_nodes_only)"})
	assert.Len(t, sc.excluded, 5)
}

func TestNodeScopeTemplateNodeSelector(t *testing.T) {
	tmpl := template()
	tmpl.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	a, b := node("a", corev1.ConditionTrue), node("b", corev1.ConditionTrue)
	a.Labels["disk"] = "ssd"
	sc := nodeScope(tmpl, []corev1.Node{b, a}, false)
	assert.Equal(t, []string{"a"}, sc.run)
	assert.Equal(t, []Excluded{{"b", "does not match the pod's nodeSelector disk=ssd"}}, sc.excluded)
}
