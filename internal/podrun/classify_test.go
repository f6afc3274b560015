package podrun

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClassify(t *testing.T) {
	term := func(name string, code int32, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg}}}
	}
	waiting := func(name, reason, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
	}
	running := corev1.ContainerStatus{Name: "main", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	tests := []struct {
		name string
		st   corev1.PodStatus
		node string
		want state
	}{
		{"just created", corev1.PodStatus{Phase: corev1.PodPending}, "", state{progress: "pod not yet scheduled"}},
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient cpu."}}}, "",
			state{done: true, failure: &Failure{Pod: "p", Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}},
		{"scheduling gated is not a failure", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}}, "",
			state{progress: "pod not yet scheduled"}},
		{"image pull", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			waiting("main", "ErrImagePull", "failed to pull image \"nope\": not found")}}, "n1",
			state{done: true, node: "n1", failure: &Failure{Pod: "p", Node: "n1", Reason: "ErrImagePull", Message: `container "main": failed to pull image "nope": not found`}}},
		{"backoff in a sidecar", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			running, waiting("side", "ImagePullBackOff", "Back-off pulling image")}}, "n1",
			state{done: true, node: "n1", failure: &Failure{Pod: "p", Node: "n1", Reason: "ImagePullBackOff", Message: `container "side": Back-off pulling image`}}},
		{"kubelet pull throttle is retried, not fatal", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			waiting("main", "ErrImagePull", "pull QPS exceeded")}}, "n1",
			state{node: "n1", progress: `pod Pending on node n1, container "main" waiting: ErrImagePull: pull QPS exceeded`}},
		{"back-off after the throttle", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			waiting("main", "ImagePullBackOff", `Back-off pulling image "busybox": ErrImagePull: pull QPS exceeded`)}}, "n1",
			state{node: "n1", progress: `pod Pending on node n1, container "main" waiting: ImagePullBackOff: Back-off pulling image "busybox": ErrImagePull: pull QPS exceeded`}},
		{"container creating", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			waiting("main", "ContainerCreating", "")}}, "n1",
			state{node: "n1", progress: `pod Pending on node n1, container "main" waiting: ContainerCreating`}},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running}}, "n1",
			state{node: "n1", progress: `pod Running on node n1, container "main" running`}},
		{"exit 1", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{term("main", 1, "no file")}}, "n1",
			state{done: true, terminated: true, exitCode: 1, message: "no file", node: "n1", stopped: true}},
		{"selected container done, sidecar running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "side", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, term("main", 0, "")}}, "n1",
			state{done: true, terminated: true, node: "n1"}},
		{"other container done first", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			term("side", 3, ""), running}}, "n1",
			state{node: "n1", progress: `pod Running on node n1, container "main" running`}},
		{"deadline exceeded", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded",
			Message: "Pod was active on the node longer than the specified deadline"}, "n1",
			state{done: true, node: "n1", stopped: true, failure: &Failure{Pod: "p", Node: "n1", Reason: "DeadlineExceeded", Message: "Pod was active on the node longer than the specified deadline"}}},
		{"init container failed", corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
			term("init", 2, "")}}, "n1",
			state{done: true, node: "n1", stopped: true, failure: &Failure{Pod: "p", Node: "n1", Reason: "InitContainerFailed", Message: `init container "init" exited with code 2`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: tt.node}, Status: tt.st}
			got := classify(pod, "main")
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(state{})); diff != "" {
				t.Errorf("classify (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureError(t *testing.T) {
	f := &Failure{Pod: "p", Node: "n", Reason: "ErrImagePull", Message: "boom"}
	if got, want := f.Error(), "pod p on node n: ErrImagePull: boom"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	f = &Failure{Reason: "Forbidden", Message: `pods "x" is forbidden: violates PodSecurity`}
	if got, want := f.Error(), `Forbidden: pods "x" is forbidden: violates PodSecurity`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPodStopped(t *testing.T) {
	ended := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		InitContainers: []corev1.Container{{Name: "init"}}, Containers: []corev1.Container{{Name: "main"}, {Name: "side"}}}
	st := func(phase corev1.PodPhase, init corev1.ContainerState, main ...corev1.ContainerState) corev1.PodStatus {
		s := corev1.PodStatus{Phase: phase, InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: init}}}
		for i, c := range main {
			s.ContainerStatuses = append(s.ContainerStatuses, corev1.ContainerStatus{Name: []string{"main", "side"}[i], State: c})
		}
		return s
	}
	always := spec
	always.RestartPolicy = corev1.RestartPolicyAlways
	for _, tt := range []struct {
		name   string
		spec   corev1.PodSpec
		status corev1.PodStatus
		want   bool
	}{
		{"succeeded", spec, corev1.PodStatus{Phase: corev1.PodSucceeded}, true},
		{"failed", spec, corev1.PodStatus{Phase: corev1.PodFailed}, true},
		{"every container ended, phase not yet terminal", spec, st(corev1.PodRunning, ended, ended, ended), true},
		{"a sidecar still runs", spec, st(corev1.PodRunning, ended, ended, running), false},
		{"a restartable init container still runs", spec, st(corev1.PodRunning, running, ended, ended), false},
		{"a container not yet reported", spec, st(corev1.PodRunning, ended, ended), false},
		{"restart policy Always", always, st(corev1.PodRunning, ended, ended, ended), false},
		{"pending", spec, corev1.PodStatus{Phase: corev1.PodPending}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, podStopped(&corev1.Pod{Spec: tt.spec, Status: tt.status}))
		})
	}
}
