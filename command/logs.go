package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Limits of the logs command.
const (
	// logsDefaultSinceSeconds is how far back the logs are read when data.since_seconds is
	// not given.
	logsDefaultSinceSeconds = 300
	// logsMaxSinceSeconds bounds data.since_seconds (30 days).
	logsMaxSinceSeconds = 30 * 24 * 3600
	// logsMaxTailLines bounds data.tail_lines.
	logsMaxTailLines = 100000
	// logsMaxPods is how many pods one run of the command reads; a selector that matches more
	// is an error.
	logsMaxPods = 1000
	// logsConcurrency is how many pods' logs are read at once.
	logsConcurrency = 16
	// logsMinPodBytes is the least each pod may read in one request, however many pods share
	// the output limit.
	logsMinPodBytes = 4 << 10
	// logsDefaultContainerAnnotation names a pod's default container, as kubectl reads it.
	logsDefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"
)

// logsCommand is the `logs` command: it reads the recent logs of the pods a label selector
// matches, with the API's timestamps, and tells how long they have all been quiet.
//
// Outcomes:
//   - read: status code 0; `output` is {"pods": [{"name", "node", "container", "lines",
//     "last_line_seconds_ago", "truncated"}], "quiet_seconds"}; stdout is the newest lines
//     of all pods, merged by time, within the output limit;
//   - no pod matches, too many match, a pod whose logs cannot be read, forbidden, no
//     cluster: an error (never a pass).
type logsCommand struct{}

// DataType returns the Go type of the command's data (see DataDescriber).
func (logsCommand) DataType() reflect.Type { return reflect.TypeOf(logsData{}) }

// UsesCluster reports that the command reads the cluster (see DataDescriber).
func (logsCommand) UsesCluster() bool { return true }

// logsData is the command's data, decoded strictly.
type logsData struct {
	Namespace     string `json:"namespace,omitempty"`
	LabelSelector string `json:"label_selector"`
	Container     string `json:"container,omitempty"`
	SinceSeconds  *int64 `json:"since_seconds,omitempty"`
	TailLines     *int64 `json:"tail_lines,omitempty"`
}

// logsPrepared is a validated logs command.
type logsPrepared struct {
	namespace string
	selector  string // canonical form
	container string
	since     int64
	tail      *int64
}

// Prepare decodes and checks the command's data.
func (logsCommand) Prepare(raw json.RawMessage, _ SpecContext) (Prepared, error) {
	var d logsData
	if errs := decodeStrict(dataRoot, raw, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	var errs field.ErrorList
	p := &logsPrepared{namespace: d.Namespace, container: d.Container, since: logsDefaultSinceSeconds, tail: d.TailLines}
	if sel, err := labels.Parse(d.LabelSelector); err != nil {
		errs = append(errs, invalid(dataRoot.Child("label_selector"), "%v", err))
	} else if sel.Empty() {
		errs = append(errs, invalid(dataRoot.Child("label_selector"), "required: the labels of the pods to read, in kubectl -l syntax, such as app=csi-node"))
	} else {
		p.selector = sel.String()
	}
	if d.Namespace != "" {
		for _, m := range validation.IsDNS1123Label(d.Namespace) {
			errs = append(errs, invalid(dataRoot.Child("namespace"), "%q is not a namespace name: %s", d.Namespace, m))
		}
	}
	if d.Container != "" {
		for _, m := range validation.IsDNS1123Label(d.Container) {
			errs = append(errs, invalid(dataRoot.Child("container"), "%q is not a container name: %s", d.Container, m))
		}
	}
	if d.SinceSeconds != nil {
		if *d.SinceSeconds < 1 || *d.SinceSeconds > logsMaxSinceSeconds {
			errs = append(errs, invalid(dataRoot.Child("since_seconds"), "must be from 1 to %d (30 days), not %d", logsMaxSinceSeconds, *d.SinceSeconds))
		} else {
			p.since = *d.SinceSeconds
		}
	}
	if d.TailLines != nil && (*d.TailLines < 1 || *d.TailLines > logsMaxTailLines) {
		errs = append(errs, invalid(dataRoot.Child("tail_lines"), "must be from 1 to %d, not %d", logsMaxTailLines, *d.TailLines))
	}
	if err := errs.ToAggregate(); err != nil {
		return nil, err
	}
	return p, nil
}

// UsesCluster reports that the command needs a cluster (see Prepared).
func (p *logsPrepared) UsesCluster() bool { return true }

// logLine is one line of a pod's log: the line as the API gave it (its timestamp first) and
// the timestamp parsed.
type logLine struct {
	ts   time.Time
	line string
}

// podLog is what was read of one pod.
type podLog struct {
	name, node, container string
	lines                 []logLine
	// truncated: older lines of the window were not read (a byte limit was reached).
	truncated bool
	// from is when the pod's current container instance started (the pod's start when the
	// container status does not say); restarted is set when it is not the first instance.
	from      time.Time
	restarted bool
	err       error
}

// Run reads the logs.
func (p *logsPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.Config == nil {
		return nil, errors.New("the logs command needs a cluster: no cluster configuration was given (set runner.Options.Config, or --kubeconfig)")
	}
	start := time.Now()
	clients, err := kubeClientsFor(env)
	if err != nil {
		return nil, err
	}
	ns := namespaceOr(p.namespace, env)
	if err := checkAccess(ctx, env, clients.typed, ns, logsPermissions()); err != nil {
		return nil, err
	}
	list, err := clients.typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: p.selector, Limit: logsMaxPods + 1})
	if err != nil {
		return nil, fmt.Errorf("cannot list pods in namespace %q: %w", ns, err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no pod in namespace %q matches label selector %q", ns, p.selector)
	}
	if len(list.Items) > logsMaxPods || list.Continue != "" {
		return nil, fmt.Errorf("more than %d pods in namespace %q match label selector %q (the most one logs command reads): narrow the selector", logsMaxPods, ns, p.selector)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	// Each pod may read its share of the output limit, at least logsMinPodBytes, per request.
	budget := max(env.Limit()/len(pods), logsMinPodBytes)
	logs := make([]podLog, len(pods))
	var g errgroup.Group
	g.SetLimit(logsConcurrency)
	for i := range pods {
		g.Go(func() error {
			logs[i] = p.readPod(ctx, clients.typed, &pods[i], budget)
			return nil // every pod is tried; its error is in logs[i]
		})
	}
	_ = g.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("reading the logs of %d pods: %w", len(pods), err)
	}
	var failed []string
	for _, l := range logs {
		if l.err != nil {
			failed = append(failed, l.name+": "+l.err.Error())
		}
	}
	if len(failed) > 0 {
		return nil, fmt.Errorf("cannot read the logs of %d of %d pods in namespace %q: %s", len(failed), len(pods), ns, listSome(failed, 10))
	}
	now, serverTime := clients.clock.now()
	res := &Result{}
	if !serverTime {
		res.Notes = append(res.Notes, "the API server sent no Date header: ages were measured with this host's clock")
	}
	out := Output{Object: p.summary(logs, now)}
	out.Stdout, out.Truncated = logsTail(logs, env.Limit())
	for _, l := range logs {
		out.Truncated = out.Truncated || l.truncated
	}
	out.Duration = time.Since(start)
	res.Outputs = []Output{out}
	return res, nil
}

// summary is `output`: each pod's counts and age, and quiet_seconds, the time since the
// newest sign of activity of any pod. A pod's activity is its newest line in the window; a
// container that restarted counts as active when its current instance started (the lines of
// the instance before are not read). When nothing was logged in the window the pods have
// been quiet since the oldest of them started, at most since_seconds (nothing older was read).
// Ages are floors in whole seconds, measured with the API server's clock.
func (p *logsPrepared) summary(logs []podLog, now time.Time) map[string]any {
	window := now.Add(-time.Duration(p.since) * time.Second)
	oldest := time.Time{}
	for _, l := range logs {
		if oldest.IsZero() || l.from.Before(oldest) {
			oldest = l.from
		}
	}
	active := window
	if oldest.After(active) {
		active = oldest
	}
	pods := make([]any, len(logs))
	for i, l := range logs {
		var last any
		if n := len(l.lines); n > 0 {
			ts := l.lines[n-1].ts
			last = seconds(now.Sub(ts))
			if ts.After(active) {
				active = ts
			}
		}
		if l.restarted && l.from.After(active) {
			active = l.from
		}
		pods[i] = map[string]any{
			"name":                  l.name,
			"node":                  l.node,
			"container":             l.container,
			"lines":                 int64(len(l.lines)),
			"last_line_seconds_ago": last,
			"truncated":             l.truncated,
		}
	}
	return map[string]any{"pods": pods, "quiet_seconds": seconds(now.Sub(active))}
}

// seconds is d in whole seconds, rounded down, never negative.
func seconds(d time.Duration) int64 { return max(int64(d/time.Second), 0) }

// readPod reads one pod's log window: all of it when it fits in budget bytes, else the newest
// lines that fit (truncated).
func (p *logsPrepared) readPod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, budget int) podLog {
	l := podLog{name: pod.Name, node: pod.Spec.NodeName}
	l.container, l.err = logsContainer(pod, p.container)
	if l.err != nil {
		return l
	}
	l.from, l.restarted = containerStart(pod, l.container)
	opts := &corev1.PodLogOptions{
		Container:    l.container,
		Timestamps:   true,
		SinceSeconds: &p.since,
		TailLines:    p.tail,
		LimitBytes:   ptr.To(int64(budget) + 1),
	}
	data, cut, err := fetchLog(ctx, cs, pod, opts, budget)
	if err == nil && cut {
		// The window holds more than the budget: the request gave its oldest part. Ask for
		// the newest lines instead, as many as fitted, halving until they fit (a line longer
		// than the budget comes back cut, its timestamp first).
		l.truncated = true
		k := max(int64(strings.Count(data, "\n")), 1)
		for {
			opts.TailLines = ptr.To(k)
			data, cut, err = fetchLog(ctx, cs, pod, opts, budget)
			if err != nil || !cut || k == 1 {
				break
			}
			k /= 2
		}
	}
	if err != nil {
		l.err = err
		return l
	}
	l.lines, l.err = parseLogLines(data)
	return l
}

// fetchLog makes one log request and reads at most budget bytes of it; cut is set when there
// was more.
func fetchLog(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, opts *corev1.PodLogOptions, budget int) (string, bool, error) {
	rc, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		var st apierrors.APIStatus
		if errors.As(err, &st) && st.Status().Message != "" {
			return "", false, errors.New(st.Status().Message)
		}
		return "", false, err
	}
	defer rc.Close()
	data, cut, err := readCapped(rc, budget)
	if err != nil {
		return "", false, fmt.Errorf("reading the log stream: %w", err)
	}
	return data, cut, nil
}

// parseLogLines splits a log read with timestamps into lines. A line without the API's
// timestamp is an error: the age of the logs could not be told.
func parseLogLines(data string) ([]logLine, error) {
	var lines []logLine
	for data != "" {
		line, rest, _ := strings.Cut(data, "\n")
		data = rest
		stamp, _, _ := strings.Cut(line, " ")
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			return nil, fmt.Errorf("a log line without a timestamp (%q): the API server did not honour timestamps=true", truncateRunes(line, 80))
		}
		lines = append(lines, logLine{ts: ts, line: line})
	}
	return lines, nil
}

// logsContainer picks the container to read as kubectl logs does: the named one, else the
// pod's default-container annotation, else the first.
func logsContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		name = pod.Annotations[logsDefaultContainerAnnotation]
	}
	if name == "" {
		if len(pod.Spec.Containers) == 0 {
			return "", errors.New("the pod has no container")
		}
		return pod.Spec.Containers[0].Name, nil
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
		names = append(names, c.Name)
	}
	return "", fmt.Errorf("the pod has no container %q (it has: %s)", name, strings.Join(names, ", "))
}

// containerStart returns when the container's current instance started (falling back to the
// pod's start, then its creation) and whether it restarted before.
func containerStart(pod *corev1.Pod, container string) (time.Time, bool) {
	from := pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		from = pod.Status.StartTime.Time
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != container {
			continue
		}
		switch {
		case cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero():
			from = cs.State.Running.StartedAt.Time
		case cs.State.Terminated != nil && !cs.State.Terminated.StartedAt.IsZero():
			from = cs.State.Terminated.StartedAt.Time
		}
		return from, cs.RestartCount > 0
	}
	return from, false
}

// logsTail renders the newest lines of all pods, merged by time as `[pod/NAME/CONTAINER]
// TIMESTAMP TEXT` (kubectl logs --prefix --timestamps), keeping what fits in limit bytes. It
// reports whether lines were left out.
func logsTail(logs []podLog, limit int) (string, bool) {
	type entry struct {
		ts   time.Time
		pod  int
		line string
	}
	prefixes := make([]string, len(logs))
	n := 0
	for i, l := range logs {
		prefixes[i] = "[pod/" + l.name + "/" + l.container + "] "
		n += len(l.lines)
	}
	all := make([]entry, 0, n)
	for i, l := range logs {
		for _, ln := range l.lines {
			all = append(all, entry{ln.ts, i, ln.line})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].ts.Equal(all[j].ts) {
			return all[i].ts.Before(all[j].ts)
		}
		return all[i].pod < all[j].pod
	})
	size := func(e entry) int { return len(prefixes[e.pod]) + len(e.line) + 1 }
	total, first := 0, len(all)
	for first > 0 && total+size(all[first-1]) <= limit {
		first--
		total += size(all[first])
	}
	var b strings.Builder
	if first > 0 && total == 0 {
		// The newest line alone is over the limit: keep its head.
		e := all[len(all)-1]
		b.Grow(limit)
		b.WriteString(prefixes[e.pod])
		b.WriteString(e.line)
		return b.String()[:limit], true
	}
	b.Grow(total)
	for _, e := range all[first:] {
		b.WriteString(prefixes[e.pod])
		b.WriteString(e.line)
		b.WriteByte('\n')
	}
	return b.String(), first > 0
}

// namespaceOr returns ns, else the run's namespace, else "default".
func namespaceOr(ns string, env *Env) string {
	if ns == "" {
		ns = env.Namespace
	}
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return ns
}

// listSome joins at most n items with "; ", ending with "... and k more".
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; ... and %d more", len(items)-n)
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
