package podrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Job is one check to run: a pod template, once or on every node in scope.
type Job struct {
	// RequirementID names the requirement; the pods carry it.
	RequirementID string
	// Namespace the pods are created in; required.
	Namespace string
	// Pod is the template; it is not changed.
	Pod *corev1.Pod
	// Container names the container whose exit code and output count; "" means the first.
	Container string
	// FanOut runs one pod per node in scope (global or node_selector); otherwise one pod
	// runs wherever the scheduler puts it.
	FanOut bool
	// NodeSelector restricts a fan-out to nodes with these labels; empty means all nodes.
	NodeSelector map[string]string
	// ReadyNodesOnly puts nodes that are not Ready out of scope (excluded) instead of
	// reporting them as not run.
	ReadyNodesOnly bool
	// Timeout is the command's timeout (the context carries it); it sets the pods'
	// server-side deadline. 0 means none (the deadline is then DefaultMaxPodLifetime).
	Timeout time.Duration
	// OutputLimit caps the bytes of output kept per pod (the scheduler command passes
	// command.Env.Limit()); 0 keeps none.
	OutputLimit int
	// MaxParallelNodes bounds how many nodes of a fan-out run at once; 0 (or a value not
	// below the number of nodes in scope) starts them all at once, within
	// Options.MaxConcurrentPods. Below that number the fan-out rolls: nodes start in their
	// order (see NodeOrderLabel) and a node's place passes to the next one only once its pod
	// is gone from the API server, so that at most MaxParallelNodes pods of the job exist at
	// any moment.
	MaxParallelNodes int
	// NodeOrderLabel orders the nodes of a fan-out by the value of this node label: integer
	// values first, in numeric order, then other values in string order, then nodes without
	// the label; ties by node name. "" orders by node name.
	NodeOrderLabel string
	// OnScope, when set, is called once a fan-out knows its nodes, before any OnTarget, with
	// how many targets Run will return (nodes in scope, including those that cannot run it).
	OnScope func(targets int)
	// OnTarget, when set, is called once for every node of a fan-out as soon as its result is
	// final: a node that ran (or failed to), one in scope that could not run, one never
	// started. It is called before Run returns, from the job's goroutines (several may call
	// it at once), and before the node's place passes to the next node. A non-empty return
	// stops the rollout: no node starts after it, nodes already running finish, and the nodes
	// not started are reported not run with the returned text as the reason (what OnTarget
	// returns for those is ignored).
	OnTarget func(TargetResult) (stop string)
}

// Result is what a Job produced.
type Result struct {
	// Targets holds one entry for a single pod, or one per node in scope, sorted by node.
	Targets []TargetResult
	// Excluded lists the nodes out of scope, with the reason.
	Excluded []Excluded
	// Privileged reports whether the pods were privileged (see Privileged).
	Privileged bool
	// Notes are remarks for the decision.
	Notes []string
}

// TargetResult is the outcome on one node (or of the single pod).
type TargetResult struct {
	// Node is the node of a fan-out ("" for a single pod).
	Node string
	// RanOn is the node the pod was bound to, when it was.
	RanOn string
	// Pod is the pod's name, when one was created.
	Pod string
	// ExitCode is the selected container's exit code; valid when Err is nil.
	ExitCode int
	// Output is the container's log (stdout and stderr interleaved, as the logs API gives
	// them), or its termination message when the logs could not be read.
	Output    string
	Truncated bool
	// Err is why no exit code could be had: a *Failure, a *TimeoutError, a *PermissionError,
	// or another error.
	Err error
	// NotRun is set for a node in scope that could not run the check, with the reason.
	NotRun   string
	Duration time.Duration
	// logNote is set when the output came from the termination message.
	logErr error
}

// TimeoutError is a command (a pod, or a host process) that did not finish before its
// context ended. It wraps the context's cause (context.DeadlineExceeded on a timeout,
// context.Canceled on cancellation). Package command exports it as command.TimeoutError.
type TimeoutError struct {
	Pod      string
	After    time.Duration
	Progress string // what the pod was doing
	Warning  string // the last Warning event about the pod, if any
	Cause    error
}

// Error describes where the pod was when the context ended: "timed out after 15s waiting
// for pod p (pod not yet scheduled)". A host command's timeout, which has no pod, reads
// "timed out after 15s".
func (e *TimeoutError) Error() string {
	what := "timed out"
	if errors.Is(e.Cause, context.Canceled) {
		what = "cancelled"
	}
	var b strings.Builder
	b.WriteString(what)
	switch {
	case e.After > 0:
		fmt.Fprintf(&b, " after %s", e.After.Round(time.Millisecond))
	case e.Cause != nil && !errors.Is(e.Cause, context.DeadlineExceeded) && !errors.Is(e.Cause, context.Canceled):
		b.WriteString(": " + e.Cause.Error())
	}
	if e.Pod != "" {
		b.WriteString(" waiting for pod " + e.Pod)
	}
	if e.Progress != "" {
		b.WriteString(" (" + e.Progress + ")")
	}
	if e.Warning != "" {
		b.WriteString("; last warning: " + e.Warning)
	}
	return b.String()
}

// Unwrap returns the context's cause.
func (e *TimeoutError) Unwrap() error { return e.Cause }

// Run runs job and returns what every target produced. The error is for what stops the whole
// job before any pod is created: missing permissions (a *PermissionError), an unreadable node
// list, a bad job. Pods that fail are results, with Err set.
func (c *Client) Run(ctx context.Context, job Job) (*Result, error) {
	if job.Pod == nil {
		return nil, errors.New("podrun: Job.Pod is nil")
	}
	if job.Namespace == "" {
		return nil, errors.New("podrun: Job.Namespace is empty")
	}
	container, err := selectedContainer(job.Pod, job.Container)
	if err != nil {
		return nil, err
	}
	if err := c.checkPermissions(ctx, job.Namespace, job.FanOut); err != nil {
		return nil, err
	}
	s, err := c.space(ctx, job.Namespace)
	if err != nil {
		return nil, fmt.Errorf("watch pods in namespace %s: %w", job.Namespace, err)
	}
	res := &Result{Privileged: Privileged(&job.Pod.Spec)}
	order := []orderedNode{{}} // one pod, wherever the scheduler puts it
	if job.FanOut {
		list, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(job.NodeSelector).String(),
		})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		sc := nodeScope(job.Pod, list.Items, job.ReadyNodesOnly)
		res.Excluded = sc.excluded
		if job.OnScope != nil && len(sc.run)+len(sc.notRun) > 0 {
			job.OnScope(len(sc.run) + len(sc.notRun))
		}
		if len(sc.run) == 0 && len(sc.notRun) == 0 {
			what := "no node matches"
			if len(job.NodeSelector) > 0 {
				what = "no node matches node_selector " + labels.SelectorFromSet(job.NodeSelector).String()
			} else if len(list.Items) > 0 {
				what = "no node"
			}
			if len(list.Items) > 0 {
				what += fmt.Sprintf(" is in scope (%d excluded)", len(sc.excluded))
			}
			res.Targets = append(res.Targets, TargetResult{Err: &Failure{Reason: "NoNodes", Message: what}})
			return res, nil
		}
		order = rolloutOrder(sc, list.Items, job.NodeOrderLabel)
	}
	var note string
	res.Targets, note = c.runTargets(ctx, s, &job, container, order)
	if job.FanOut {
		sort.SliceStable(res.Targets, func(i, j int) bool { return res.Targets[i].Node < res.Targets[j].Node })
	}
	res.Notes = logNotes(res.Targets, job.FanOut)
	if note != "" {
		res.Notes = append(res.Notes, note)
	}
	return res, nil
}

// logNotes summarises the targets whose logs could not be read into one note.
func logNotes(ts []TargetResult, fanOut bool) []string {
	var nodes []string
	var first error
	for _, t := range ts {
		if t.logErr != nil {
			if first == nil {
				first = t.logErr
			}
			n := t.RanOn
			if t.Node != "" {
				n = t.Node
			}
			nodes = append(nodes, n)
		}
	}
	if first == nil {
		return nil
	}
	if !fanOut {
		return []string{fmt.Sprintf("logs unavailable on node %s: %v; output taken from the termination message", nodes[0], first)}
	}
	shown := nodes
	more := ""
	if len(shown) > 5 {
		shown, more = shown[:5], fmt.Sprintf(" and %d more", len(nodes)-5)
	}
	return []string{fmt.Sprintf("logs unavailable on %d of %d nodes (%s%s): %v; output taken from the termination message",
		len(nodes), len(ts), strings.Join(shown, ", "), more, first)}
}

// runOne creates one pod (pinned to node when node is not empty), waits for it, reads its
// output and deletes it. start is when the node's turn began (its duration counts from
// there). When a pod was created its target is returned still registered: the caller
// unregisters it, after waiting for the pod to be gone if it needs to.
func (c *Client) runOne(ctx context.Context, s *space, job *Job, container, node string, start time.Time) (r TargetResult, t *target) {
	r.Node = node
	defer func() { r.Duration = time.Since(start) }()
	pod := buildPod(job.Pod, podParams{
		runID: c.opts.RunID, requirementID: job.RequirementID, namespace: job.Namespace,
		node: node, timeout: job.Timeout, now: c.now(),
	})
	created, err := c.cs.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		r.Err = createError(ctx, err, start)
		return r, nil
	}
	r.Pod = created.Name
	t = s.register(created, container)
	select {
	case <-t.done:
	case <-ctx.Done():
	}
	st, warn := t.snapshot()
	r.RanOn = st.node
	t.markDeleting()
	how := deleteRunning
	if st.stopped {
		how = deleteTerminal
	}
	switch {
	case st.done && st.terminated:
		r.ExitCode = st.exitCode
		r.Output, r.Truncated, r.logErr = c.readLogs(ctx, job.Namespace, created.Name, container, st.message, job.OutputLimit)
		if how == deleteRunning {
			how = deleteFinished
		}
	case st.done:
		r.Err = st.failure
	default:
		r.Err = &TimeoutError{Pod: created.Name, After: time.Since(start), Progress: st.progress, Warning: warn, Cause: ctx.Err()}
	}
	_ = c.deletePod(ctx, job.Namespace, created.Name, how)
	if r.Err != nil && node != "" {
		r.NotRun = c.nodeGone(ctx, node)
	}
	return r, t
}

// createError turns a failed create into the run's error, keeping the API's own text (a Pod
// Security denial lists the violated controls).
func createError(ctx context.Context, err error, start time.Time) error {
	if ctx.Err() != nil {
		return &TimeoutError{After: time.Since(start), Progress: "creating the pod", Cause: ctx.Err()}
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		reason := string(st.Reason)
		if reason == "" {
			reason = "CreateFailed"
		}
		return &Failure{Reason: reason, Message: st.Message}
	}
	return &Failure{Reason: "CreateFailed", Message: err.Error()}
}

// nodeGone returns, for a node whose pod failed, why the node could not run it when that is
// the node's doing (deleted, NotReady, unreachable), or "".
func (c *Client) nodeGone(ctx context.Context, node string) string {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	n, err := c.cs.CoreV1().Nodes().Get(gctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "node deleted during the run"
	}
	if err != nil {
		return ""
	}
	if reason := notReady(n); reason != "" {
		return reason + " during the run"
	}
	return ""
}

// readLogs reads a terminated container's log, capped at limit bytes. When the logs API
// fails (a node whose kubelet cannot be reached, or a simulated one), the termination
// message stands in and the error is returned for a note.
func (c *Client) readLogs(ctx context.Context, namespace, pod, container, termMsg string, limit int) (string, bool, error) {
	lctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	n := int64(limit) + 1
	rc, err := c.cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, LimitBytes: &n}).Stream(lctx)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(rc, n))
		rc.Close()
	}
	if err != nil {
		out, trunc := capString(termMsg, limit)
		return out, trunc, err
	}
	out, trunc := capString(string(data), limit)
	return out, trunc, nil
}

func capString(s string, limit int) (string, bool) {
	if len(s) > limit {
		return s[:limit], true
	}
	return s, false
}
