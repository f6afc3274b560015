package podrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

// Defaults of Options.
const (
	// DefaultQPS and DefaultBurst are the client rate limits of a run when Options leave them
	// zero: kubectl's burst, twice its QPS, since a fan-out makes two or three calls per node.
	DefaultQPS   = 100
	DefaultBurst = 300
	// DefaultMaxConcurrentPods bounds the pods of a run that exist at once.
	DefaultMaxConcurrentPods = 128
	// UserAgent is the user agent of a run's requests.
	UserAgent = "preflight-scheduler"
)

// cleanupTimeout bounds the deletion of one pod, and reading a node after its pod failed,
// when the caller's context is already done.
const cleanupTimeout = 30 * time.Second

// Options configure a Client. The zero value works except for RunID, which New requires.
type Options struct {
	// RunID identifies the run; every pod carries it as a label and the run's watches select
	// on it.
	RunID string
	// QPS and Burst limit the run's requests; 0 takes DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
	// MaxConcurrentPods bounds how many pods of the run exist at once, over all its
	// requirements; 0 takes DefaultMaxConcurrentPods.
	MaxConcurrentPods int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// AccessReviews, when set, holds the run's allowed SelfSubjectAccessReviews: the
	// permission check before the first pod asks only what it does not hold.
	AccessReviews *AccessReviews
}

// Client runs the check pods of one run. It is safe for concurrent use. Close it when the run
// ends, with a context that outlives the run's (the pods it deletes are the run's).
type Client struct {
	cs   kubernetes.Interface
	opts Options
	log  *slog.Logger
	sem  *semaphore.Weighted // the run's pods in flight, over all its requirements
	now  func() time.Time
	// goneTimeout bounds how long a rolling fan-out waits for a deleted pod to be gone
	// before it stops (cleanupTimeout; tests shorten it).
	goneTimeout time.Duration
	ctx         context.Context // lifetime of watches
	cancel      context.CancelFunc

	mu      sync.Mutex
	closed  bool
	spaces  map[string]*space
	perms   map[permKey]*permEntry
	wg      sync.WaitGroup
	stopped chan struct{}
}

type permKey struct {
	namespace string
	fanOut    bool
}

type permEntry struct {
	mu      sync.Mutex
	granted bool // the check passed; a denial or a failed review is asked again
}

// New returns a Client for the cluster cfg reaches. cfg is copied (rest.CopyConfig) and the
// copy gets the run's QPS, burst and user agent; cfg itself is never changed.
func New(cfg *rest.Config, opts Options) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("no cluster configuration (rest.Config is nil)")
	}
	return newClient(func() (kubernetes.Interface, error) {
		return kubernetes.NewForConfig(RunConfig(cfg, opts))
	}, opts)
}

// RunConfig returns the copy of cfg a run uses: cfg's fields with the run's QPS, burst and
// user agent. cfg is not changed.
func RunConfig(cfg *rest.Config, opts Options) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = opts.QPS, opts.Burst
	if c.QPS <= 0 {
		c.QPS = DefaultQPS
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	c.UserAgent = UserAgent
	if cfg.UserAgent != "" {
		c.UserAgent = cfg.UserAgent + " " + UserAgent
	}
	return c
}

// NewForClientset returns a Client that uses cs as it is (tests use a fake clientset).
func NewForClientset(cs kubernetes.Interface, opts Options) (*Client, error) {
	return newClient(func() (kubernetes.Interface, error) { return cs, nil }, opts)
}

func newClient(mk func() (kubernetes.Interface, error), opts Options) (*Client, error) {
	if opts.RunID == "" {
		return nil, errors.New("podrun: Options.RunID must not be empty")
	}
	cs, err := mk()
	if err != nil {
		return nil, fmt.Errorf("cluster client: %w", err)
	}
	if opts.MaxConcurrentPods <= 0 {
		opts.MaxConcurrentPods = DefaultMaxConcurrentPods
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cs: cs, opts: opts, log: log, now: time.Now, goneTimeout: cleanupTimeout,
		sem: semaphore.NewWeighted(int64(opts.MaxConcurrentPods)),
		ctx: ctx, cancel: cancel,
		spaces: map[string]*space{}, perms: map[permKey]*permEntry{},
	}, nil
}

// Clientset returns the run's clientset.
func (c *Client) Clientset() kubernetes.Interface { return c.cs }

// checkPermissions checks the pod runner's permissions for a namespace and kind of run until
// they are granted once; a denial or a review that failed is not remembered.
func (c *Client) checkPermissions(ctx context.Context, namespace string, fanOut bool) error {
	c.mu.Lock()
	k := permKey{namespace, fanOut}
	e := c.perms[k]
	if e == nil {
		e = &permEntry{}
		c.perms[k] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.granted {
		return nil
	}
	err := c.opts.AccessReviews.Check(ctx, c.cs, namespace, Permissions(fanOut))
	e.granted = err == nil
	return err
}

// space is the run's view of one namespace: the informer on the run's pods, the events
// watch, and the pods the run is waiting for.
type space struct {
	c        *Client
	name     string
	informer cache.SharedIndexInformer
	ready    chan struct{} // closed once started (err set on failure)
	err      error

	mu      sync.Mutex
	targets map[string]*target // by pod name
	// deletedUIDs are pods of the run deleted while no target was registered for them.
	deletedUIDs map[types.UID]struct{}
	gone        chan struct{} // receives (without blocking) after every pod deletion
}

// space returns the namespace's watches, starting them on first use and waiting until the
// pod informer has synced.
func (c *Client) space(ctx context.Context, namespace string) (*space, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("podrun: the run's client is closed")
	}
	s := c.spaces[namespace]
	if s == nil {
		s = &space{c: c, name: namespace, ready: make(chan struct{}), targets: map[string]*target{}, deletedUIDs: map[types.UID]struct{}{}, gone: make(chan struct{}, 1)}
		c.spaces[namespace] = s
		c.wg.Add(1)
		go func() { defer c.wg.Done(); s.start() }()
	}
	c.mu.Unlock()
	select {
	case <-s.ready:
		return s, s.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *Client) selector() string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelRunID + "=" + LabelValue(c.opts.RunID)
}

func (s *space) start() {
	c := s.c
	pods := c.cs.CoreV1().Pods(s.name)
	sel := c.selector()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return pods.Watch(ctx, o)
		},
	}
	s.informer = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, c.cs), &corev1.Pod{}, 0, cache.Indexers{})
	_ = s.informer.SetTransform(func(o any) (any, error) {
		if p, ok := o.(*corev1.Pod); ok {
			p.ManagedFields = nil
		}
		return o, nil
	})
	_, _ = s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.observe(o) },
		UpdateFunc: func(_, o any) { s.observe(o) },
		DeleteFunc: func(o any) { s.deleted(o) },
	})
	go s.informer.RunWithContext(c.ctx)
	// The events watch starts while the pod informer syncs, and the sync is awaited without
	// polling (cache.WaitForCacheSync polls every 100ms): both are set up before the first
	// pod is created, in the time of the slower of the two.
	events := make(chan struct{})
	go func() { defer close(events); s.startEvents() }()
	synced := cache.WaitFor(c.ctx, "", s.informer.HasSyncedChecker())
	<-events
	if !synced {
		s.err = errors.New("podrun: stopped before the pod watch synced")
	}
	close(s.ready)
}

// startEvents watches the namespace's Warning events about pods from now on, to fail fast on
// sandbox failures and to give timeouts the cluster's last word. Without it a run still works
// (failures then end in the timeout), so an error here is only logged.
func (s *space) startEvents() {
	c := s.c
	ev := c.cs.CoreV1().Events(s.name)
	const fs = "involvedObject.kind=Pod,type=Warning"
	list, err := ev.List(c.ctx, metav1.ListOptions{FieldSelector: fs, Limit: 1})
	if err != nil {
		c.log.Warn("cannot watch events; sandbox failures will surface as timeouts", "namespace", s.name, "err", err)
		return
	}
	rw, err := watchtools.NewRetryWatcherWithContext(c.ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fs
			return ev.Watch(ctx, o)
		},
	})
	if err != nil {
		c.log.Warn("cannot watch events; sandbox failures will surface as timeouts", "namespace", s.name, "err", err)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer rw.Stop()
		for {
			select {
			case <-c.ctx.Done():
				return
			case e, ok := <-rw.ResultChan():
				if !ok {
					return
				}
				if e.Type != watch.Added && e.Type != watch.Modified {
					continue
				}
				if evt, ok := e.Object.(*corev1.Event); ok {
					s.event(evt)
				}
			}
		}
	}()
}

func (s *space) lookup(name string) *target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.targets[name]
}

func (s *space) observe(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	if t := s.lookup(pod.Name); t != nil && t.uid == pod.UID {
		t.observe(pod)
	}
}

func (s *space) deleted(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if pod, ok := o.(*corev1.Pod); ok {
		// Names of deleted pods are reused by generateName: only the pod with the target's
		// UID is the target's.
		if t := s.lookup(pod.Name); t != nil && t.uid == pod.UID {
			t.markGone()
			t.vanished()
		} else {
			// Deleted before its creator registered it (or after it unregistered): remember
			// the UID so that a late register still learns the pod is gone.
			s.mu.Lock()
			s.deletedUIDs[pod.UID] = struct{}{}
			s.mu.Unlock()
		}
	}
	select {
	case s.gone <- struct{}{}:
	default:
	}
}

func (s *space) event(e *corev1.Event) {
	if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "Pod" {
		return
	}
	t := s.lookup(e.InvolvedObject.Name)
	if t == nil || e.InvolvedObject.UID != t.uid {
		return
	}
	t.warning(e.Reason, e.Message, fatalEvents[e.Reason])
}

// register starts tracking a created pod and feeds it what the informer already saw.
func (s *space) register(pod *corev1.Pod, container string) *target {
	t := &target{name: pod.Name, uid: pod.UID, container: container, done: make(chan struct{}), gone: make(chan struct{})}
	s.mu.Lock()
	s.targets[pod.Name] = t
	_, gone := s.deletedUIDs[pod.UID]
	delete(s.deletedUIDs, pod.UID)
	s.mu.Unlock()
	if gone {
		t.markGone()
		t.vanished()
		return t
	}
	if o, ok, _ := s.informer.GetStore().GetByKey(s.name + "/" + pod.Name); ok && o.(*corev1.Pod).UID == pod.UID {
		t.observe(o.(*corev1.Pod))
	}
	return t
}

func (s *space) unregister(name string) {
	s.mu.Lock()
	delete(s.targets, name)
	s.mu.Unlock()
}

// target is one created pod the run waits for.
type target struct {
	name      string
	uid       types.UID
	container string
	done      chan struct{}
	gone      chan struct{} // closed once the watch saw the pod deleted

	mu          sync.Mutex
	st          state
	lastWarning string
	deleting    bool
	finished    bool
	isGone      bool
}

// markGone records that the pod is gone from the API server.
func (t *target) markGone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.isGone {
		t.isGone = true
		close(t.gone)
	}
}

func (t *target) finish(st state) {
	// t.mu is held
	t.st = st
	if !t.finished {
		t.finished = true
		close(t.done)
	}
}

func (t *target) observe(pod *corev1.Pod) {
	st := classify(pod, t.container)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	if st.done {
		t.finish(st)
		return
	}
	t.st = st
}

func (t *target) vanished() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished || t.deleting {
		return
	}
	st := t.st
	st.done = true
	st.failure = &Failure{Pod: t.name, Node: st.node, Reason: "PodDeleted", Message: "the pod was deleted before its container finished"}
	t.finish(st)
}

func (t *target) warning(reason, message string, fatal bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	t.lastWarning = reason + ": " + message
	if fatal {
		st := t.st
		st.done = true
		st.failure = &Failure{Pod: t.name, Node: st.node, Reason: reason, Message: message}
		t.finish(st)
	}
}

// snapshot returns the target's state and last warning.
func (t *target) snapshot() (state, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st, t.lastWarning
}

func (t *target) markDeleting() {
	t.mu.Lock()
	t.deleting = true
	t.mu.Unlock()
}

// How a pod of the run is deleted (see deletePod).
type deletion int

const (
	// deleteRunning: a pod that may still run gets a grace period of 1s, as `kubectl delete
	// --now` does.
	deleteRunning deletion = iota
	// deleteFinished: a pod whose selected container ended but whose phase is not terminal
	// (another container may still run) keeps its own grace period.
	deleteFinished
	// deleteTerminal: a pod none of whose containers runs or will run again (its phase is
	// Succeeded or Failed, or every container reports terminated under restartPolicy Never)
	// is removed at once, with a grace period of 0, as the pod garbage collector of
	// kube-controller-manager removes terminated pods. Waiting for the kubelet to confirm the
	// deletion of a pod with nothing left to stop cost about 2s per check on a real node.
	deleteTerminal
)

// deletePod deletes a pod of the run with a context that outlives ctx, as how says. A grace
// period of 0 is used only for a pod whose containers have all ended: on a pod that may still run, a
// force delete would leave a container running on a node that did not hear about it.
func (c *Client) deletePod(ctx context.Context, namespace, name string, how deletion) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	opts := metav1.DeleteOptions{}
	switch how {
	case deleteRunning:
		opts.GracePeriodSeconds = ptr.To[int64](1)
	case deleteTerminal:
		opts.GracePeriodSeconds = ptr.To[int64](0)
	}
	err := c.cs.CoreV1().Pods(namespace).Delete(dctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		c.log.Warn("cannot delete pod; it is removed when the run closes or by Cleanup", "namespace", namespace, "pod", name, "err", err)
		return err
	}
	return nil
}

// Close deletes every pod of the run that still exists (found by the run's label, in every
// namespace the run used), waits until they are gone or ctx ends, and stops the run's
// watches. It returns an error naming the pods it could not delete or that were still
// terminating when ctx ended. Close is idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	spaces := make([]*space, 0, len(c.spaces))
	for _, s := range c.spaces {
		spaces = append(spaces, s)
	}
	c.mu.Unlock()
	sort.Slice(spaces, func(i, j int) bool { return spaces[i].name < spaces[j].name })
	var errs []error
	for _, s := range spaces {
		select {
		case <-s.ready:
		case <-ctx.Done():
		}
		errs = append(errs, s.close(ctx))
	}
	c.cancel()
	c.wg.Wait()
	return errors.Join(errs...)
}

// close deletes the namespace's remaining pods of the run and waits for them to be gone.
func (s *space) close(ctx context.Context) error {
	c := s.c
	if s.err != nil || s.informer == nil {
		return nil
	}
	s.mu.Lock()
	for _, t := range s.targets {
		t.markDeleting()
	}
	s.mu.Unlock()
	// The server's list is authoritative: the store may miss a pod whose creation raced with
	// cancellation, and still hold one just removed (a finished pod is deleted at once).
	// Only when the list fails does the store stand in.
	names := map[string]bool{}
	if list, err := c.cs.CoreV1().Pods(s.name).List(ctx, metav1.ListOptions{LabelSelector: c.selector()}); err == nil {
		for _, p := range list.Items {
			names[p.Name] = true
		}
	} else {
		c.log.Warn("cannot list the run's pods at close; deleting those the watch saw", "namespace", s.name, "err", err)
		for _, k := range s.informer.GetStore().ListKeys() {
			if _, n, err := cache.SplitMetaNamespaceKey(k); err == nil {
				names[n] = true
			}
		}
	}
	var failed []string
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for n := range names {
		g.Go(func() error {
			if err := c.deletePod(ctx, s.name, n, deleteRunning); err != nil {
				mu.Lock()
				failed = append(failed, n+": "+err.Error())
				mu.Unlock()
			}
			return nil // every deletion is tried; failed names the failures
		})
	}
	_ = g.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("namespace %s: could not delete %d pods of run %s: %s", s.name, len(failed), c.opts.RunID, strings.Join(failed, "; "))
	}
	// Wait for the deletions to show in the watch.
	for len(names) > 0 {
		left := 0
		for n := range names {
			if _, ok, _ := s.informer.GetStore().GetByKey(s.name + "/" + n); ok {
				left++
			} else {
				delete(names, n)
			}
		}
		if left == 0 {
			break
		}
		select {
		case <-s.gone:
		case <-ctx.Done():
			keys := make([]string, 0, len(names))
			for n := range names {
				keys = append(keys, n)
			}
			sort.Strings(keys)
			return fmt.Errorf("namespace %s: %d pods of run %s still terminating (they may still be running): %s",
				s.name, len(keys), c.opts.RunID, strings.Join(keys, ", "))
		}
	}
	return nil
}
