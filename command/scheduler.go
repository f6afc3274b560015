package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	sigsjson "sigs.k8s.io/json"

	"github.com/preflightkit/preflight/internal/gotype"
	"github.com/preflightkit/preflight/internal/podrun"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// schedulerCommand runs a pod in the cluster (once, or once per node in scope) and takes the
// chosen container's exit code as the status code and its log as stdout. See
// internal/podrun for the pod machinery.
type schedulerCommand struct{}

// schedulerData is the command's data: everything sits under "kubernetes", as in the classic
// format.
type schedulerData struct {
	Kubernetes *schedulerKube `json:"kubernetes"`
}

type schedulerKube struct {
	PodName        string            `json:"pod_name"`
	Pod            json.RawMessage   `json:"pod"`
	Global         bool              `json:"global"`
	NodeSelector   map[string]string `json:"node_selector"`
	Namespace      string            `json:"namespace"`
	Container      string            `json:"container"`
	ReadyNodesOnly bool              `json:"ready_nodes_only"`
	// The rolling step: how many nodes at a time, when to stop, in which order.
	MaxParallelNodes *int            `json:"max_parallel_nodes"`
	StopOnFailure    json.RawMessage `json:"stop_on_failure"`
	NodeOrderLabel   string          `json:"node_order_label"`
}

// stopRule says which node status stops a fan-out from starting more nodes.
type stopRule int

const (
	stopNever   stopRule = iota // stop_on_failure: false (the default)
	stopOnError                 // stop_on_failure: true
	stopOnWarn                  // stop_on_failure: warn
)

// schedulerShape is the shape of the data for DataType: schedulerData with the inline pod's
// type, so that `K_expr` keys inside data.kubernetes.pod are typed as the Pod's fields.
type schedulerShape struct {
	Kubernetes *struct {
		PodName          string            `json:"pod_name"`
		Pod              *corev1.Pod       `json:"pod"`
		Global           bool              `json:"global"`
		NodeSelector     map[string]string `json:"node_selector"`
		Namespace        string            `json:"namespace"`
		Container        string            `json:"container"`
		ReadyNodesOnly   bool              `json:"ready_nodes_only"`
		MaxParallelNodes *int              `json:"max_parallel_nodes"`
		StopOnFailure    json.RawMessage   `json:"stop_on_failure" expr:"bool|string"`
		NodeOrderLabel   string            `json:"node_order_label"`
	} `json:"kubernetes"`
}

// DataType returns the shape of the scheduler's data.
func (schedulerCommand) DataType() reflect.Type { return reflect.TypeOf(schedulerShape{}) }

// UsesCluster reports that the command runs pods (see DataDescriber).
func (schedulerCommand) UsesCluster() bool { return true }

// schedulerPrepared is a validated scheduler command.
type schedulerPrepared struct {
	pod            *corev1.Pod // the template, never changed after Prepare
	container      string      // the container whose exit code counts
	fanOut         bool
	nodeSelector   map[string]string
	namespace      string // data.namespace, else the template's
	readyNodesOnly bool
	maxParallel    int // 0: every node at once
	stopOn         stopRule
	orderLabel     string
}

// Prepare decodes data.kubernetes strictly, resolves pod_name against the spec's pod
// templates (or decodes the inline pod) and checks everything that can be checked without a
// cluster, reporting every problem at once.
func (schedulerCommand) Prepare(data json.RawMessage, spec SpecContext) (Prepared, error) {
	var top struct {
		Kubernetes json.RawMessage `json:"kubernetes"`
	}
	if errs := decodeStrict(dataRoot, data, &top); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	kpath := dataRoot.Child("kubernetes")
	if len(bytes.TrimSpace(top.Kubernetes)) == 0 || bytes.Equal(bytes.TrimSpace(top.Kubernetes), []byte("null")) {
		return nil, invalid(kpath, "required: give the pod to run (pod_name or pod) and where (global, node_selector)")
	}
	var k schedulerKube
	if errs := decodeStrict(kpath, top.Kubernetes, &k); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	p := &schedulerPrepared{
		fanOut:         k.Global || len(k.NodeSelector) > 0,
		nodeSelector:   k.NodeSelector,
		readyNodesOnly: k.ReadyNodesOnly,
	}
	var errs field.ErrorList
	hasInline := len(bytes.TrimSpace(k.Pod)) > 0 && !bytes.Equal(bytes.TrimSpace(k.Pod), []byte("null"))
	switch {
	case k.PodName != "" && hasInline:
		errs = append(errs, invalid(kpath, "set exactly one of pod_name and pod, not both"))
	case k.PodName == "" && !hasInline:
		errs = append(errs, invalid(kpath, "set pod_name (the metadata.name of a kind: Pod document of the spec) or pod (an inline Pod)"))
	case k.PodName != "":
		tmpl, ok := spec.Pods[k.PodName]
		if !ok || tmpl == nil {
			errs = append(errs, invalid(kpath.Child("pod_name"), "no kind: Pod document named %q in the spec (%s)", k.PodName, knownPods(spec.Pods)))
		} else {
			p.pod = tmpl.DeepCopy()
		}
	default:
		pod, podErrs := decodePod(kpath.Child("pod"), k.Pod)
		errs = append(errs, podErrs...)
		p.pod = pod
	}
	// Problems of an inline pod are at their path under data.kubernetes.pod; those of a
	// kind: Pod document at pod_name, which names it.
	podAt, inPod := kpath.Child("pod"), ""
	if k.PodName != "" {
		podAt, inPod = kpath.Child("pod_name"), fmt.Sprintf("the Pod %q: ", k.PodName)
	}
	if p.pod != nil {
		errs = append(errs, validateTemplate(p.pod, podAt, inPod, p.fanOut)...)
		if c, err := selectContainer(p.pod, k.Container); err != nil {
			errs = append(errs, invalid(kpath.Child("container"), "%s", err))
		} else {
			p.container = c
		}
		p.namespace = p.pod.Namespace
	}
	if k.Namespace != "" {
		if msgs := validation.IsDNS1123Label(k.Namespace); len(msgs) > 0 {
			errs = append(errs, invalid(kpath.Child("namespace"), "%q is not a valid namespace name: %s", k.Namespace, strings.Join(msgs, "; ")))
		}
		p.namespace = k.Namespace
	}
	for _, key := range sortedKeys(k.NodeSelector) {
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			errs = append(errs, invalid(kpath.Child("node_selector"), "key %q is not a valid label key: %s", key, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(k.NodeSelector[key]); len(msgs) > 0 {
			errs = append(errs, invalid(kpath.Child("node_selector").Key(key), "%q is not a valid label value: %s", k.NodeSelector[key], strings.Join(msgs, "; ")))
		}
	}
	if k.ReadyNodesOnly && !p.fanOut {
		errs = append(errs, invalid(kpath.Child("ready_nodes_only"), "only applies to a fan-out: set global: true or node_selector too"))
	}
	errs = append(errs, p.prepareRollout(kpath, &k)...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}

// prepareRollout checks the rolling step's fields (max_parallel_nodes, stop_on_failure,
// node_order_label), which apply only to a fan-out.
func (p *schedulerPrepared) prepareRollout(kpath *field.Path, k *schedulerKube) field.ErrorList {
	var errs field.ErrorList
	fanOutOnly := func(name string) {
		if !p.fanOut {
			errs = append(errs, invalid(kpath.Child(name), "only applies to a fan-out: set global: true or node_selector too"))
		}
	}
	if k.MaxParallelNodes != nil {
		fanOutOnly("max_parallel_nodes")
		if *k.MaxParallelNodes < 1 {
			errs = append(errs, invalid(kpath.Child("max_parallel_nodes"), "must be at least 1 (how many nodes run at once), not %d; leave it out to run every node at once", *k.MaxParallelNodes))
		}
		p.maxParallel = *k.MaxParallelNodes
	}
	switch raw := string(bytes.TrimSpace(k.StopOnFailure)); raw {
	case "", "null", "false":
	case "true":
		p.stopOn = stopOnError
	case `"warn"`:
		p.stopOn = stopOnWarn
	default:
		errs = append(errs, invalid(kpath.Child("stop_on_failure"), `must be true (stop at the first node whose result is error), "warn" (at the first warn or error) or false, not %s`, raw))
	}
	if p.stopOn != stopNever {
		fanOutOnly("stop_on_failure")
	}
	if k.NodeOrderLabel != "" {
		fanOutOnly("node_order_label")
		if msgs := validation.IsQualifiedName(k.NodeOrderLabel); len(msgs) > 0 {
			errs = append(errs, invalid(kpath.Child("node_order_label"), "%q is not a valid label key: %s", k.NodeOrderLabel, strings.Join(msgs, "; ")))
		}
		p.orderLabel = k.NodeOrderLabel
	}
	return errs
}

// decodePod decodes an inline pod (at path p) strictly, as a kind: Pod document is.
func decodePod(p *field.Path, raw json.RawMessage) (*corev1.Pod, field.ErrorList) {
	pod := &corev1.Pod{}
	strictErrs, err := sigsjson.UnmarshalStrict(raw, pod)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, field.ErrorList{invalid(childPath(p, te.Field), "must be %s, not %s", gotype.Describe(te.Type), te.Value)}
		}
		return nil, field.ErrorList{invalid(p, "%v", err)}
	}
	var errs field.ErrorList
	for _, se := range strictErrs {
		var fe sigsjson.FieldError
		if errors.As(se, &fe) {
			msg, _, _ := strings.Cut(se.Error(), " \"")
			errs = append(errs, invalid(childPath(p, fe.FieldPath()), "%s (Pod fields are case-sensitive, as in kubectl)", msg))
		} else {
			errs = append(errs, invalid(p, "%v", se))
		}
	}
	if pod.APIVersion != "" && pod.APIVersion != "v1" || pod.Kind != "" && pod.Kind != "Pod" {
		errs = append(errs, invalid(p, "apiVersion/kind must be v1/Pod (or absent), not %s/%s", pod.APIVersion, pod.Kind))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return pod, nil
}

// validateTemplate checks what the API server would refuse later, or what cannot work as a
// check, so that a bad spec fails when it loads. Problems are reported at the pod's fields
// under p, or, when in is set (a kind: Pod document, named by in), at p itself.
func validateTemplate(pod *corev1.Pod, p *field.Path, in string, fanOut bool) field.ErrorList {
	var errs field.ErrorList
	at := func(fields string) *field.Path {
		if in != "" {
			return p
		}
		return childPath(p, fields)
	}
	say := func(fields, format string, args ...any) {
		prefix := ""
		if in != "" {
			prefix = in + fields + ": "
		}
		errs = append(errs, invalid(at(fields), "%s%s", prefix, fmt.Sprintf(format, args...)))
	}
	if len(pod.Spec.Containers) == 0 {
		say("spec.containers", "a check pod needs at least one container")
	}
	seen := map[string]bool{}
	for i, c := range pod.Spec.Containers {
		name := fmt.Sprintf("spec.containers[%d].name", i)
		if c.Name == "" {
			say(name, "required")
		} else if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
			say(name, "%q: %s", c.Name, strings.Join(msgs, "; "))
		}
		if seen[c.Name] {
			say(name, "duplicate container name %q", c.Name)
		}
		seen[c.Name] = true
		if strings.TrimSpace(c.Image) == "" {
			say(fmt.Sprintf("spec.containers[%d].image", i), "required")
		}
	}
	if fanOut && pod.Spec.NodeName != "" {
		say("spec.nodeName", "must be empty when the pod runs per node (global or node_selector): the command pins each pod to its node itself")
	}
	return errs
}

// selectContainer returns the container whose exit code and output count.
func selectContainer(pod *corev1.Pod, name string) (string, error) {
	if len(pod.Spec.Containers) == 0 {
		return "", nil // reported by validateTemplate
	}
	if name == "" {
		return pod.Spec.Containers[0].Name, nil
	}
	names := make([]string, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
		names = append(names, c.Name)
	}
	return "", fmt.Errorf("the pod has no container %q (it has: %s)", name, strings.Join(names, ", "))
}

func knownPods(pods map[string]*corev1.Pod) string {
	if len(pods) == 0 {
		return "the spec has no kind: Pod documents"
	}
	return "known pod templates: " + strings.Join(sortedKeys(pods), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// schedulerSessionKey keys the run's podrun.Client in the Session, one per rest.Config.
type schedulerSessionKey struct{ cfg *rest.Config }

// Run runs the pod (or one per node in scope) and returns one output per pod.
// UsesCluster reports that the command needs a cluster (see Prepared).
func (p *schedulerPrepared) UsesCluster() bool { return true }

func (p *schedulerPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.Config == nil {
		return nil, errors.New("the scheduler command needs a cluster: no kubeconfig")
	}
	sess := env.Session
	if sess == nil {
		// Called outside a runner: the pods of this call are cleaned up when it returns.
		sess = &Session{}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := sess.Close(cctx); err != nil {
				loggerOf(env).Warn("cleaning up the scheduler's pods", "err", err)
			}
		}()
	}
	v, err := sess.Get(schedulerSessionKey{env.Config}, func() (any, error) {
		runID := env.RunID
		if runID == "" {
			runID = podrun.NewRunID()
		}
		return podrun.New(env.Config, podrun.Options{
			RunID:             runID,
			QPS:               env.Cluster.QPS,
			Burst:             env.Cluster.Burst,
			MaxConcurrentPods: env.Cluster.MaxConcurrentPods,
			Logger:            loggerOf(env),
		})
	})
	if err != nil {
		return nil, err
	}
	client := v.(*podrun.Client)
	ns := p.runNamespace(env.Namespace)
	job := podrun.Job{
		RequirementID:    env.RequirementID,
		Namespace:        ns,
		Pod:              p.pod,
		Container:        p.container,
		FanOut:           p.fanOut,
		NodeSelector:     p.nodeSelector,
		ReadyNodesOnly:   p.readyNodesOnly,
		Timeout:          env.Timeout,
		OutputLimit:      env.Limit(),
		MaxParallelNodes: p.maxParallel,
		NodeOrderLabel:   p.orderLabel,
	}
	if p.fanOut {
		job.OnScope = env.OnNodeScope
		job.OnTarget = p.onTarget(env)
	}
	res, err := client.Run(ctx, job)
	if err != nil {
		return nil, err
	}
	return schedulerResult(res), nil
}

// onTarget is the fan-out's per-node hook: it reports each node's output through
// env.OnNodeDone and, under stop_on_failure, returns why the rollout stops after a node whose
// status is error (or warn, with stop_on_failure: warn).
func (p *schedulerPrepared) onTarget(env *Env) func(podrun.TargetResult) string {
	return func(t podrun.TargetResult) string {
		status := env.nodeDone(targetOutput(t))
		switch {
		case p.stopOn == stopNever || status == nodeSuccess:
			return ""
		case status == nodeError:
			return "stopped after " + t.Node + " failed"
		case p.stopOn == stopOnWarn:
			return "stopped after " + t.Node + " warned (stop_on_failure: warn)"
		}
		return ""
	}
}

// targetOutput maps one target's outcome onto an Output.
func targetOutput(t podrun.TargetResult) Output {
	o := Output{
		Node:       t.Node,
		StatusCode: t.ExitCode,
		Stdout:     t.Output,
		Truncated:  t.Truncated,
		Err:        t.Err,
		NotRun:     t.NotRun,
		Duration:   t.Duration,
	}
	if t.Err != nil {
		o.StatusCode = CodeGeneralError
		if errors.Is(t.Err, context.DeadlineExceeded) {
			o.StatusCode = CodeTimeout
		}
	}
	return o
}

// schedulerResult maps podrun's result onto the command contract.
func schedulerResult(res *podrun.Result) *Result {
	out := &Result{Notes: res.Notes}
	for _, t := range res.Targets {
		if t.Pod != "" && res.Privileged {
			out.Privileged = true
		}
		out.Outputs = append(out.Outputs, targetOutput(t))
	}
	for _, e := range res.Excluded {
		out.Excluded = append(out.Excluded, Excluded{Node: e.Node, Reason: e.Reason})
	}
	return out
}
