package gatehttp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// Defaults of the Options.
const (
	// DefaultRetention is how long a finished run is kept when Options.Retention is 0.
	DefaultRetention = time.Hour
	// DefaultMaxRuns is how many finished runs are kept when Options.MaxRuns is 0.
	DefaultMaxRuns = 100
	// DefaultMaxRunning is how many runs may run at once when Options.MaxRunning is 0.
	DefaultMaxRunning = 4
)

// defaultMaxEventBytes bounds the events a run keeps when Options.MaxEventBytes is 0.
const defaultMaxEventBytes = 64 << 20

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// Options configure a Handler. The zero value works: host commands only, the limits above.
type Options struct {
	// Runner holds the options of every run. Each POST /runs replaces Vars (merged key by
	// key), Phase, AppVersion, PreviousVersion, Acknowledge and AcknowledgeWarnings with
	// its own fields when it has them. OnEvent, when set, is called too, for the events of
	// every run.
	Runner runner.Options
	// Retention is how long a finished run stays after it ended; 0 means DefaultRetention.
	Retention time.Duration
	// MaxRuns bounds how many finished runs are kept; the oldest go first. 0 means
	// DefaultMaxRuns. Running runs are never dropped.
	MaxRuns int
	// MaxRunning bounds how many runs run at once: POST /runs answers 429 beyond it. 0 means
	// DefaultMaxRunning.
	MaxRunning int
	// MaxEventBytes bounds the size of the events one run keeps to replay to its watchers
	// (their JSON). Past it, node and attempt events are dropped (the finished events still
	// carry every node's and the last attempt's result); started and finished events are
	// always kept. 0 means 64 MiB.
	MaxEventBytes int
	// Logger receives the handler's diagnostics (runs started, ended, cancelled,
	// acknowledged, by whom); nil uses Runner.Logger, and when that is nil too they are
	// discarded. Runs log to Runner.Logger, or to Logger when that is nil.
	Logger *slog.Logger
}

// Handler serves the runs of one spec. It is safe for concurrent use.
type Handler struct {
	spec *requirement.Spec
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	now  func() time.Time
	// keepAlive is keepAliveInterval unless a test changes it.
	keepAlive time.Duration

	ctx    context.Context // the parent of every run; Close cancels it
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	runs    map[string]*run
	running int
	closed  bool
}

// New returns a Handler that runs spec. The spec and the options are checked at once
// (runner.New's errors for bad options).
func New(spec *requirement.Spec, opts Options) (*Handler, error) {
	if spec == nil {
		return nil, errors.New("gatehttp: spec is nil")
	}
	if err := spec.Check(); err != nil {
		return nil, fmt.Errorf("gatehttp: invalid spec: %w", err)
	}
	if opts.Retention < 0 || opts.MaxRuns < 0 || opts.MaxRunning < 0 || opts.MaxEventBytes < 0 {
		return nil, errors.New("gatehttp: Retention, MaxRuns, MaxRunning and MaxEventBytes must be 0 (default) or more")
	}
	if _, err := runner.New(opts.Runner); err != nil {
		return nil, fmt.Errorf("gatehttp: %w", err)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxRuns == 0 {
		opts.MaxRuns = DefaultMaxRuns
	}
	if opts.MaxRunning == 0 {
		opts.MaxRunning = DefaultMaxRunning
	}
	if opts.MaxEventBytes == 0 {
		opts.MaxEventBytes = defaultMaxEventBytes
	}
	if opts.Logger == nil {
		opts.Logger = opts.Runner.Logger
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Runner.Logger == nil {
		opts.Runner.Logger = opts.Logger
	}
	h := &Handler{spec: spec, opts: opts, log: opts.Logger, now: time.Now, keepAlive: keepAliveInterval, runs: map[string]*run{}}
	h.ctx, h.cancel = context.WithCancelCause(context.Background())
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /runs", h.start)
	h.mux.HandleFunc("GET /runs/{id}", h.get)
	h.mux.HandleFunc("DELETE /runs/{id}", h.delete)
	h.mux.HandleFunc("GET /runs/{id}/events", h.events)
	h.mux.HandleFunc("POST /runs/{id}/acknowledge", h.acknowledge)
	for pattern, allow := range map[string]string{
		"/runs": "POST", "/runs/{id}": "GET, DELETE", "/runs/{id}/events": "GET", "/runs/{id}/acknowledge": "POST",
	} {
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, allow))
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such endpoint (see the gatehttp package documentation)", r.Method, r.URL.Path))
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close cancels every running run (their state becomes canceled and their pods are
// deleted), refuses new ones (503), and waits until the runs have ended or ctx is done.
// Event streams end with the runs' done events.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	for _, r := range h.runs {
		r.markCanceled()
	}
	h.mu.Unlock()
	h.cancel(errors.New("the console is shutting down"))
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gatehttp: closing: runs still ending: %w", context.Cause(ctx))
	}
}

// start is POST /runs.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	var req startRequest
	if !decodeBody(w, r, &req) {
		return
	}
	opts := h.opts.Runner
	if req.Vars != nil {
		vars := maps.Clone(opts.Vars)
		if vars == nil {
			vars = map[string]any{}
		}
		maps.Copy(vars, req.Vars)
		opts.Vars = vars
	}
	if req.Phase != nil {
		opts.Phase = runner.Phase(*req.Phase)
	}
	if req.AppVersion != nil {
		opts.AppVersion = *req.AppVersion
	}
	if req.PreviousVersion != nil {
		opts.PreviousVersion = *req.PreviousVersion
	}
	if req.Acknowledge != nil {
		opts.Acknowledge = req.Acknowledge
	}
	if req.AcknowledgeWarnings != nil {
		opts.AcknowledgeWarnings = req.AcknowledgeWarnings
	}
	id, err := newID()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "run id: "+err.Error())
		return
	}
	rn := newRun(id, h.spec, h.opts.MaxEventBytes, h.now())
	onEvent := opts.OnEvent
	opts.OnEvent = func(e runner.Event) {
		rn.record(e)
		if onEvent != nil {
			onEvent(e)
		}
	}
	rr, err := runner.New(opts)
	if err == nil {
		err = rr.Check(h.spec)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, optionErrors(err, startFields))
		return
	}

	h.mu.Lock()
	h.prune()
	switch {
	case h.closed:
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "the console is shutting down: no new runs")
		return
	case h.running >= h.opts.MaxRunning:
		h.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%d runs are running, the most at once (MaxRunning): wait for one to end", h.running))
		return
	}
	h.running++
	h.runs[id] = rn
	h.wg.Add(1)
	ctx, cancel := context.WithCancelCause(h.ctx)
	rn.cancel = cancel
	h.mu.Unlock()

	log := h.log.With("run", id)
	log.Info("run started", "phase", opts.Phase, "app_version", opts.AppVersion, "previous_version", opts.PreviousVersion,
		"acknowledge", opts.Acknowledge, "acknowledge_warnings", opts.AcknowledgeWarnings)
	go func() {
		defer h.wg.Done()
		defer cancel(nil)
		d, err := rr.Run(ctx, h.spec)
		if d == nil { // Check passed, so this is not expected; fail closed all the same
			d = &runner.Decision{Gate: runner.GateBlocked, Started: rn.started, Error: fmt.Sprint(err), Requirements: []runner.RequirementResult{}}
		}
		state := rn.finish(d, h.now())
		h.mu.Lock()
		h.running--
		h.prune()
		h.mu.Unlock()
		log.Info("run ended", "state", state, "gate", d.Gate, "run_id", d.RunID, "error", d.Error)
	}()

	w.Header().Set("Location", location(r, id))
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// lookup finds the run named by the request's {id}, or answers 404.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) *run {
	id := r.PathValue("id")
	h.mu.Lock()
	h.prune()
	rn := h.runs[id]
	h.mu.Unlock()
	if rn == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no run %q: it never existed, or it ended more than the retention ago", id))
	}
	return rn
}

// DeployAllowed reports what GET /runs/{id} says in deploy_allowed: whether run id is done
// and its gate passes, after acknowledgments. It is false for an unknown id. A console
// checks it on its server before it deploys, whatever its page shows.
func (h *Handler) DeployAllowed(id string) bool {
	h.mu.Lock()
	h.prune()
	rn := h.runs[id]
	h.mu.Unlock()
	return rn != nil && rn.body(h.now()).DeployAllowed
}

// get is GET /runs/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if rn := h.lookup(w, r); rn != nil {
		writeJSON(w, http.StatusOK, rn.body(h.now()))
	}
}

// delete is DELETE /runs/{id}: it cancels the run and answers once the run has ended (its
// pods deleted), or when the client goes away.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	rn := h.lookup(w, r)
	if rn == nil {
		return
	}
	if !rn.markCanceled() {
		writeError(w, http.StatusConflict, fmt.Sprintf("run %s is already done: nothing to cancel", rn.id))
		return
	}
	h.log.Info("run cancelled", "run", rn.id)
	rn.cancel(errors.New("cancelled by DELETE"))
	select {
	case <-rn.ended:
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusOK, rn.body(h.now()))
}

// acknowledge is POST /runs/{id}/acknowledge.
func (h *Handler) acknowledge(w http.ResponseWriter, r *http.Request) {
	rn := h.lookup(w, r)
	if rn == nil {
		return
	}
	var req ackRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.By == "":
		writeError(w, http.StatusBadRequest, "by: required: who acknowledges (it is recorded in the decision)")
		return
	case len(req.By) > maxByLength:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("by: longer than %d bytes", maxByLength))
		return
	case len(req.IDs) == 0 && len(req.Warnings) == 0:
		writeError(w, http.StatusBadRequest, "ids, warnings: nothing to acknowledge: give the ids of failures or warnings to accept (ids), or of warnings only (warnings)")
		return
	}
	code, err := rn.acknowledge(req.IDs, req.Warnings, req.By, h.now())
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	h.log.Info("run acknowledged", "run", rn.id, "by", req.By, "ids", req.IDs, "warnings", req.Warnings)
	writeJSON(w, http.StatusOK, rn.body(h.now()))
}

// prune drops the finished runs past the retention, then the oldest beyond MaxRuns. h.mu is
// held.
func (h *Handler) prune() {
	now := h.now()
	var finished []*run
	for id, r := range h.runs {
		at, ok := r.finishedAt()
		switch {
		case !ok:
		case now.Sub(at) > h.opts.Retention:
			delete(h.runs, id)
		default:
			finished = append(finished, r)
		}
	}
	if len(finished) <= h.opts.MaxRuns {
		return
	}
	slices.SortFunc(finished, func(a, b *run) int {
		ta, _ := a.finishedAt()
		tb, _ := b.finishedAt()
		return ta.Compare(tb)
	})
	for _, r := range finished[:len(finished)-h.opts.MaxRuns] {
		delete(h.runs, r.id)
	}
}

// location is the URL path of run id: the request's own path (as the client sent it, with
// the prefix the handler is mounted under) followed by the id.
func location(r *http.Request, id string) string {
	p := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.EscapedPath() != "" {
		p = u.EscapedPath()
	}
	return path.Join(p, id)
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
