package command_test

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/command"
)

// The scheduler command checks its data when the spec loads: pod_name must name one of the
// spec's kind: Pod documents, and the container whose exit code counts must exist.
func Example_schedulerPrepare() {
	scheduler, _ := command.Builtins().Lookup("scheduler")
	spec := command.SpecContext{Pods: map[string]*corev1.Pod{
		"license-checker": {
			ObjectMeta: metav1.ObjectMeta{Name: "license-checker"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "tester", Image: "busybox"}}},
		},
	}}

	_, err := scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "license-checker", "global": true}}`), spec)
	fmt.Println("on every node:", err)

	_, err = scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "licence-checker", "global": true}}`), spec)
	fmt.Println(err)

	_, err = scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "license-checker", "container": "main"}}`), spec)
	fmt.Println(err)
	// Output:
	// on every node: <nil>
	// data.kubernetes.pod_name: Invalid value: no kind: Pod document named "licence-checker" in the spec (known pod templates: license-checker)
	// data.kubernetes.container: Invalid value: the pod has no container "main" (it has: tester)
}

// A node step that rolls: one node at a time, in the order of a node label, stopping at the
// first node whose result is error. The fields apply only to a fan-out, and each is checked at
// its own path when the spec loads.
func Example_schedulerRollingStep() {
	scheduler, _ := command.Builtins().Lookup("scheduler")
	spec := command.SpecContext{Pods: map[string]*corev1.Pod{
		"wipe-disks": {
			ObjectMeta: metav1.ObjectMeta{Name: "wipe-disks"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "step", Image: "busybox"}}},
		},
	}}

	_, err := scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "wipe-disks",
		"node_selector": {"role": "storage"}, "max_parallel_nodes": 1, "stop_on_failure": true,
		"node_order_label": "example.com/rollout-order"}}`), spec)
	fmt.Println("rolling:", err)

	_, err = scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "wipe-disks", "max_parallel_nodes": 1}}`), spec)
	fmt.Println(err)

	_, err = scheduler.Prepare(json.RawMessage(`{"kubernetes": {"pod_name": "wipe-disks", "global": true, "stop_on_failure": "always"}}`), spec)
	fmt.Println(err)
	// Output:
	// rolling: <nil>
	// data.kubernetes.max_parallel_nodes: Invalid value: only applies to a fan-out: set global: true or node_selector too
	// data.kubernetes.stop_on_failure: Invalid value: must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false, not "always"
}
