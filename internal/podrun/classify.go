package podrun

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Failure is why a check pod could not produce a result, in the cluster's own words: Reason is
// the API's or kubelet's reason (Unschedulable, ErrImagePull, FailedCreatePodSandBox,
// Forbidden, DeadlineExceeded, ...) and Message its message.
type Failure struct {
	Pod     string // the pod's name, empty when it was never created
	Node    string // the node it was bound to, if any
	Reason  string
	Message string
}

// The kinds of Failure that callers match with errors.Is (package command exports them).
var (
	// ErrUnschedulable: the scheduler found no node for the pod (reason Unschedulable).
	ErrUnschedulable = errors.New("pod unschedulable")
	// ErrImage: the pod's image could not be pulled or is invalid (ErrImagePull,
	// ImagePullBackOff, ErrImageNeverPull, InvalidImageName).
	ErrImage = errors.New("pod image unavailable")
	// ErrAdmission: the API server refused to create the pod (an admission controller such as
	// Pod Security, a quota, a webhook: reasons Forbidden and Invalid).
	ErrAdmission = errors.New("pod refused by admission")
	// ErrSandbox: the node could not create the pod's sandbox (FailedCreatePodSandBox).
	ErrSandbox = errors.New("pod sandbox failed")
)

// failureKinds maps a Failure's Reason to its kind.
var failureKinds = map[string]error{
	"Unschedulable":          ErrUnschedulable,
	"ErrImagePull":           ErrImage,
	"ImagePullBackOff":       ErrImage,
	"ErrImageNeverPull":      ErrImage,
	"InvalidImageName":       ErrImage,
	"Forbidden":              ErrAdmission,
	"Invalid":                ErrAdmission,
	"FailedCreatePodSandBox": ErrSandbox,
}

// Is reports whether target is the kind of f (ErrUnschedulable, ErrImage, ErrAdmission,
// ErrSandbox), so that errors.Is matches a failure by kind.
func (f *Failure) Is(target error) bool {
	kind, ok := failureKinds[f.Reason]
	return ok && kind == target
}

// Error returns "pod P: Reason: Message".
func (f *Failure) Error() string {
	var b strings.Builder
	if f.Pod != "" {
		b.WriteString("pod " + f.Pod)
		if f.Node != "" {
			b.WriteString(" on node " + f.Node)
		}
		b.WriteString(": ")
	}
	b.WriteString(f.Reason)
	if f.Message != "" {
		b.WriteString(": " + f.Message)
	}
	return b.String()
}

// fatalWaiting are container waiting reasons that will not resolve without a change to the
// spec or the cluster; a check pod fails fast on them instead of waiting out the timeout.
var fatalWaiting = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// kubeletThrottled reports whether a pull error is only the kubelet's own pull rate limit
// (registryPullQPS, "pull QPS exceeded"), which the kubelet retries by itself: many check
// pods starting on one node at once hit it, and it is no reason to fail.
func kubeletThrottled(msg string) bool {
	return strings.Contains(msg, "pull QPS exceeded")
}

// fatalEvents are Warning event reasons that end a check pod at once.
var fatalEvents = map[string]bool{
	"FailedCreatePodSandBox": true,
}

// state is what one observation of a pod says about a check.
type state struct {
	done       bool
	node       string
	exitCode   int    // when terminated
	terminated bool   // the selected container terminated: exitCode and message are valid
	message    string // the termination message
	// stopped: no container of the pod runs or will run again (see podStopped).
	stopped bool
	failure *Failure
	// progress describes a pod that is not done, for timeout messages.
	progress string
}

// podStopped reports whether no container of pod runs or will run again: its phase is
// Succeeded or Failed, or every container and init container the spec has reports
// terminated and the pod's restart policy is Never (as every check pod's is). The kubelet
// reports the containers' ends before it sets the terminal phase, which it does only once it
// has torn the pod's sandbox down, about a second later.
func podStopped(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever ||
		len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) ||
		len(pod.Status.InitContainerStatuses) != len(pod.Spec.InitContainers) {
		return false
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Terminated == nil {
				return false
			}
		}
	}
	return true
}

// classify reads a pod's status for the check on container.
func classify(pod *corev1.Pod, container string) state {
	st := state{node: pod.Spec.NodeName, stopped: podStopped(pod)}
	fail := func(reason, msg string) state {
		st.done = true
		st.failure = &Failure{Pod: pod.Name, Node: pod.Spec.NodeName, Reason: reason, Message: msg}
		return st
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == container && cs.State.Terminated != nil {
			t := cs.State.Terminated
			st.done, st.terminated = true, true
			st.exitCode = int(t.ExitCode)
			st.message = t.Message
			return st
		}
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] && !kubeletThrottled(w.Message) {
				return fail(w.Reason, fmt.Sprintf("container %q: %s", cs.Name, w.Message))
			}
		}
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		for _, cs := range pod.Status.InitContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				return fail("InitContainerFailed", fmt.Sprintf("init container %q exited with code %d%s", cs.Name, t.ExitCode, reasonSuffix(t.Reason, t.Message)))
			}
		}
		reason := pod.Status.Reason
		if reason == "" {
			reason = "Pod" + string(pod.Status.Phase)
		}
		msg := pod.Status.Message
		if msg == "" {
			msg = fmt.Sprintf("pod is %s but container %q reported no exit code", pod.Status.Phase, container)
		}
		return fail(reason, msg)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fail(c.Reason, c.Message)
		}
	}
	switch {
	case pod.Spec.NodeName == "":
		st.progress = "pod not yet scheduled"
	default:
		st.progress = fmt.Sprintf("pod %s on node %s", pod.Status.Phase, pod.Spec.NodeName)
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name != container {
				continue
			}
			if w := cs.State.Waiting; w != nil {
				st.progress += fmt.Sprintf(", container %q waiting%s", container, reasonSuffix(w.Reason, w.Message))
			} else if cs.State.Running != nil {
				st.progress += fmt.Sprintf(", container %q running", container)
			}
		}
	}
	return st
}
