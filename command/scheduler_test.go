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
			name: "rolling step",
			data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "max_parallel_nodes": 1, "stop_on_failure": true, "node_order_label": "example.com/rollout-order"}}`,
			want: &schedulerPrepared{container: "tester", fanOut: true, maxParallel: 1, stopOn: stopOnError, orderLabel: "example.com/rollout-order"},
		},
		{
			name: "stop on warnings, all at once",
			data: `{"kubernetes": {"pod_name": "license-checker", "node_selector": {"disk": "ssd"}, "stop_on_failure": "warn"}}`,
			want: &schedulerPrepared{container: "tester", fanOut: true, nodeSelector: map[string]string{"disk": "ssd"}, stopOn: stopOnWarn},
		},
		{
			name: "explicit defaults, even without a fan-out",
			data: `{"kubernetes": {"pod_name": "license-checker", "stop_on_failure": false, "max_parallel_nodes": null}}`,
			want: &schedulerPrepared{container: "tester"},
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
			wantErr: "data.kubernetes.Global: unknown field (known fields: container, global, max_parallel_nodes, namespace, node_order_label, node_selector, pod, pod_name, ready_nodes_only, stop_on_failure; names are case-sensitive)"},
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
		{name: "max_parallel_nodes zero", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "max_parallel_nodes": 0}}`,
			wantErr: "data.kubernetes.max_parallel_nodes: must be at least 1 (how many nodes run at once), not 0; leave it out to run every node at once"},
		{name: "max_parallel_nodes negative", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "max_parallel_nodes": -3}}`,
			wantErr: "data.kubernetes.max_parallel_nodes: must be at least 1 (how many nodes run at once), not -3"},
		{name: "max_parallel_nodes fraction", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "max_parallel_nodes": 1.5}}`,
			wantErr: "data.kubernetes.max_parallel_nodes: must be an integer, not number 1.5"},
		{name: "max_parallel_nodes string", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "max_parallel_nodes": "3"}}`,
			wantErr: "data.kubernetes.max_parallel_nodes: must be an integer, not string"},
		{name: "max_parallel_nodes without fan-out", data: `{"kubernetes": {"pod_name": "license-checker", "max_parallel_nodes": 2}}`,
			wantErr: "data.kubernetes.max_parallel_nodes: only applies to a fan-out: set global: true or node_selector too"},
		{name: "stop_on_failure word", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "stop_on_failure": "yes"}}`,
			wantErr: `data.kubernetes.stop_on_failure: must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false, not "yes"`},
		{name: "stop_on_failure case-sensitive", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "stop_on_failure": "Warn"}}`,
			wantErr: `data.kubernetes.stop_on_failure: must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false, not "Warn"`},
		{name: "stop_on_failure number", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "stop_on_failure": 1}}`,
			wantErr: `data.kubernetes.stop_on_failure: must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false, not 1`},
		{name: "stop_on_failure without fan-out", data: `{"kubernetes": {"pod_name": "license-checker", "stop_on_failure": "warn"}}`,
			wantErr: "data.kubernetes.stop_on_failure: only applies to a fan-out: set global: true or node_selector too"},
		{name: "node_order_label not a label key", data: `{"kubernetes": {"pod_name": "license-checker", "global": true, "node_order_label": "rollout order"}}`,
			wantErr: `data.kubernetes.node_order_label: "rollout order" is not a valid label key`},
		{name: "node_order_label without fan-out", data: `{"kubernetes": {"pod_name": "license-checker", "node_order_label": "order"}}`,
			wantErr: "data.kubernetes.node_order_label: only applies to a fan-out: set global: true or node_selector too"},
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
	assert.ErrorIs(t, err, ErrNoCluster)
	assert.EqualError(t, err, "the scheduler command needs a cluster, but no cluster configuration was given (runner.Options.Config is nil)")
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

func TestSchedulerStopRules(t *testing.T) {
	ran := func(code int) podrun.TargetResult {
		return podrun.TargetResult{Node: "node-b", Pod: "p", ExitCode: code}
	}
	tests := []struct {
		name   string
		stopOn stopRule
		status string // what OnNodeDone says
		want   string
	}{
		{"never stops on error", stopNever, "error", ""},
		{"never stops on warn", stopNever, "warn", ""},
		{"true stops on error", stopOnError, "error", "stopped after node-b failed"},
		{"true goes on after a warning", stopOnError, "warn", ""},
		{"true goes on after success", stopOnError, "success", ""},
		{"warn stops on warn", stopOnWarn, "warn", "stopped after node-b warned (stop_on_failure: warn)"},
		{"warn stops on error", stopOnWarn, "error", "stopped after node-b failed"},
		{"warn goes on after success", stopOnWarn, "success", ""},
		{"an unknown status is an error", stopOnError, "pass", "stopped after node-b failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []Output
			env := &Env{OnNodeDone: func(o Output) string { seen = append(seen, o); return tt.status }}
			p := &schedulerPrepared{fanOut: true, stopOn: tt.stopOn}
			assert.Equal(t, tt.want, p.onTarget(env)(ran(3)))
			assert.Equal(t, []Output{{Node: "node-b", StatusCode: 3}}, seen, "the hook sees the output the result will hold")
		})
	}
}

// Without a runner's OnNodeDone, a node fails when it did not exit 0.
func TestSchedulerStopWithoutAnalysis(t *testing.T) {
	p := &schedulerPrepared{fanOut: true, stopOn: stopOnError}
	tests := []struct {
		target podrun.TargetResult
		want   string
	}{
		{podrun.TargetResult{Node: "a", Pod: "p"}, ""},
		{podrun.TargetResult{Node: "a", Pod: "p", ExitCode: 1}, "stopped after a failed"},
		{podrun.TargetResult{Node: "a", Err: errors.New("refused")}, "stopped after a failed"},
		{podrun.TargetResult{Node: "a", NotRun: "node NotReady", Err: errors.New("not run")}, "stopped after a failed"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.onTarget(&Env{})(tt.target), "%+v", tt.target)
		assert.Equal(t, tt.want, p.onTarget(nil)(tt.target), "%+v", tt.target)
	}
}
