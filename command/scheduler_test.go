package command

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/internal/podrun"
)

func specPods() SpecContext {
	return SpecContext{Pods: map[string]*corev1.Pod{
		"license-checker": {
			ObjectMeta: metav1.ObjectMeta{Name: "license-checker"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "tester", Image: "busybox"}, {Name: "side", Image: "busybox"},
			}},
		},
		"pinned": {
			ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: "from-template"},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		},
	}}
}

func TestSchedulerPrepare(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    *schedulerPrepared // checked when wantErr is empty (pod not compared)
		wantErr string
	}{
		{
			name: "classic global",
			data: `{"kubernetes": {"pod_name": "license-checker", "global": true}}`,
			want: &schedulerPrepared{container: "tester", fanOut: true},
		},
		{
			name: "node_selector, namespace, container",
			data: `{"kubernetes": {"pod_name": "license-checker", "node_selector": {"disk": "ssd"}, "namespace": "checks", "container": "side", "ready_nodes_only": true}}`,
			want: &schedulerPrepared{container: "side", fanOut: true, nodeSelector: map[string]string{"disk": "ssd"}, namespace: "checks", readyNodesOnly: true},
		},
		{
			name: "inline pod, single",
			data: `{"kubernetes": {"pod": {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}}}`,
			want: &schedulerPrepared{container: "c"},
		},
		{
			name: "template namespace is the default",
			data: `{"kubernetes": {"pod_name": "pinned"}}`,
			want: &schedulerPrepared{container: "c", namespace: "from-template"},
		},
		{name: "no data", data: ``, wantErr: "data.kubernetes: required: give the pod to run (pod_name or pod) and where (global, node_selector)"},
		{name: "unknown top-level", data: `{"kubernetes": {"pod_name": "license-checker"}, "kube": 1}`, wantErr: "data.kube: unknown field (known fields: kubernetes; names are case-sensitive)"},
		{name: "unknown field, case-sensitive", data: `{"kubernetes": {"pod_name": "license-checker", "Global": true}}`,
			wantErr: "data.kubernetes.Global: unknown field (known fields: container, global, namespace, node_selector, pod, pod_name, ready_nodes_only; names are case-sensitive)"},
		{name: "wrong type", data: `{"kubernetes": {"pod_name": "license-checker", "global": "yes"}}`, wantErr: "data.kubernetes.global: must be a boolean (true or false), not string"},
		{name: "neither", data: `{"kubernetes": {"global": true}}`, wantErr: "data.kubernetes: set pod_name (the metadata.name of a kind: Pod document of the spec) or pod (an inline Pod)"},
		{name: "both", data: `{"kubernetes": {"pod_name": "license-checker", "pod": {"spec": {}}}}`, wantErr: "data.kubernetes: set exactly one of pod_name and pod, not both"},
		{name: "unknown template", data: `{"kubernetes": {"pod_name": "license"}}`,
			wantErr: `data.kubernetes.pod_name: no kind: Pod document named "license" in the spec (known pod templates: license-checker, pinned)`},
		{name: "unknown container", data: `{"kubernetes": {"pod_name": "license-checker", "container": "main"}}`,
			wantErr: `data.kubernetes.container: the pod has no container "main" (it has: tester, side)`},
		{name: "nodeName with fan-out", data: `{"kubernetes": {"pod_name": "pinned", "global": true}}`,
			wantErr: `data.kubernetes.pod_name: the Pod "pinned": spec.nodeName: must be empty when the pod runs per node (global or node_selector): the command pins each pod to its node itself`},
		{name: "inline pod without containers", data: `{"kubernetes": {"pod": {"spec": {"containers": []}}}}`,
			wantErr: "data.kubernetes.pod.spec.containers: a check pod needs at least one container"},
		{name: "inline pod unknown field", data: `{"kubernetes": {"pod": {"spec": {"containers": [{"name": "c", "image": "x", "imagee": "y"}]}}}}`,
			wantErr: `data.kubernetes.pod.spec.containers[0].imagee: unknown field (Pod fields are case-sensitive, as in kubectl)`},
		{name: "inline pod wrong kind", data: `{"kubernetes": {"pod": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"containers": [{"name": "c", "image": "x"}]}}}}`,
			wantErr: "data.kubernetes.pod: apiVersion/kind must be v1/Pod (or absent), not apps/v1/Deployment"},
		{name: "container without image", data: `{"kubernetes": {"pod": {"spec": {"containers": [{"name": "c"}]}}}}`,
			wantErr: "data.kubernetes.pod.spec.containers[0].image: required"},
		{name: "bad namespace", data: `{"kubernetes": {"pod_name": "license-checker", "namespace": "Not_Valid"}}`,
			wantErr: `data.kubernetes.namespace: "Not_Valid" is not a valid namespace name`},
		{name: "bad selector value", data: `{"kubernetes": {"pod_name": "license-checker", "node_selector": {"disk": "has space"}}}`,
			wantErr: `data.kubernetes.node_selector[disk]: "has space" is not a valid label value`},
		{name: "ready_nodes_only without fan-out", data: `{"kubernetes": {"pod_name": "license-checker", "ready_nodes_only": true}}`,
			wantErr: "data.kubernetes.ready_nodes_only: only applies to a fan-out: set global: true or node_selector too"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := schedulerCommand{}.Prepare(json.RawMessage(tt.data), specPods())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, dataErrText(err), tt.wantErr)
				return
			}
			require.NoError(t, err)
			sp := p.(*schedulerPrepared)
			require.NotNil(t, sp.pod)
			sp.pod = nil
			assert.Equal(t, tt.want, sp)
		})
	}
}

func TestSchedulerPrepareReportsAllProblems(t *testing.T) {
	_, err := schedulerCommand{}.Prepare(json.RawMessage(
		`{"kubernetes": {"pod": {"spec": {"nodeName": "x", "containers": [{"name": "c"}]}}, "global": true, "namespace": "A", "container": "d"}}`), SpecContext{})
	require.Error(t, err)
	for _, want := range []string{"spec.containers[0].image: required", "spec.nodeName: must be empty", "data.kubernetes.container", "data.kubernetes.namespace"} {
		assert.Contains(t, dataErrText(err), want)
	}
}

func TestSchedulerPrepareDoesNotShareTheTemplate(t *testing.T) {
	sc := specPods()
	p, err := schedulerCommand{}.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "license-checker"}}`), sc)
	require.NoError(t, err)
	sc.Pods["license-checker"].Spec.Containers[0].Image = "changed"
	assert.Equal(t, "busybox", p.(*schedulerPrepared).pod.Spec.Containers[0].Image)
}

func TestSchedulerRunNeedsCluster(t *testing.T) {
	p, err := schedulerCommand{}.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "license-checker"}}`), specPods())
	require.NoError(t, err)
	_, err = p.Run(context.Background(), &Env{})
	assert.EqualError(t, err, "the scheduler command needs a cluster: no kubeconfig")
}

func TestSchedulerResult(t *testing.T) {
	timeout := &podrun.TimeoutError{Pod: "p", After: time.Second, Cause: context.DeadlineExceeded}
	cancelled := &podrun.TimeoutError{Pod: "p", After: time.Second, Cause: context.Canceled}
	got := schedulerResult(&podrun.Result{
		Privileged: true,
		Targets: []podrun.TargetResult{
			{Node: "a", Pod: "p1", ExitCode: 3, Output: "out", Truncated: true, Duration: time.Second},
			{Node: "b", Pod: "p2", Err: timeout},
			{Node: "c", Pod: "p3", Err: cancelled},
			{Node: "d", NotRun: "node NotReady", Err: errors.New("node d not run: node NotReady")},
		},
		Excluded: []podrun.Excluded{{Node: "e", Reason: "taint x:NoSchedule not tolerated"}},
		Notes:    []string{"n"},
	})
	assert.Equal(t, &Result{
		Outputs: []Output{
			{Node: "a", StatusCode: 3, Stdout: "out", Truncated: true, Duration: time.Second},
			{Node: "b", StatusCode: CodeTimeout, Err: timeout},
			{Node: "c", StatusCode: CodeGeneralError, Err: cancelled},
			{Node: "d", StatusCode: CodeGeneralError, NotRun: "node NotReady", Err: errors.New("node d not run: node NotReady")},
		},
		Excluded:   []Excluded{{Node: "e", Reason: "taint x:NoSchedule not tolerated"}},
		Privileged: true,
		Notes:      []string{"n"},
	}, got)

	got = schedulerResult(&podrun.Result{Privileged: true, Targets: []podrun.TargetResult{{Err: errors.New("refused")}}})
	assert.False(t, got.Privileged, "no privileged pod ran when none was created")
}
