// Package command defines the contract between the runner and the things a requirement runs
// (a local process, a TCP dial, an HTTP request, a pod in the cluster, ...), the registry that
// maps a spec's command.id to an implementation, and the built-in implementations.
//
// A Command is looked up by id when a spec loads; its Prepare validates the command's data
// there and then, so a bad spec fails before anything runs. The Prepared value is what the
// runner later runs, as many times as it needs (retries), from many goroutines at once.
//
// What a command could not do is an error of its output, typed so that callers can tell the
// kinds apart with errors.As and errors.Is (the runner keeps it in RequirementResult.Err):
// *TimeoutError, *PermissionError, and *PodError with its kinds ErrUnschedulable, ErrImage,
// ErrAdmission and ErrSandbox.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
)

// Status codes the library itself produces, the values the classic preflight format uses.
const (
	// CodeGeneralError is a failure with no more specific code.
	CodeGeneralError = 1
	// CodeInvalidArgument means the command was given an argument it cannot use.
	CodeInvalidArgument = 22
	// CodeTimeout means the command did not finish within its timeout.
	CodeTimeout = 62
	// CodeAddressInUse is what port_available reports for a port that is taken.
	CodeAddressInUse = 98
	// CodeConnectionRefused is what tcp_dial reports when the peer refuses.
	CodeConnectionRefused = 111
)

// DefaultOutputLimit is how many bytes of stdout and of stderr a command keeps when
// Env.OutputLimit is zero. Output past the limit is dropped and Output.Truncated is set.
const DefaultOutputLimit = 1 << 20

// Command is one kind of check. Implementations must be safe for concurrent use.
type Command interface {
	// Prepare parses and validates the command's data (the JSON form of the spec's
	// command.data, nil when absent) at load time. Problems with the data are returned as
	// *field.Error values (k8s.io/apimachinery/pkg/util/validation/field), one or several
	// (field.ErrorList.ToAggregate), whose paths start at "data": the loader reports each at
	// the line and column of that field, with its Detail as the message ("required: " first
	// for field.Required). Any other error is reported at data.
	Prepare(data json.RawMessage, spec SpecContext) (Prepared, error)
}

// DataDescriber is an optional interface of a Command: DataType returns the Go type its data
// decodes into, a struct (or a pointer to one) with json tags. The loader reads it to accept
// and type-check the `K_expr` keys of the data (CEL whose value is used for K, at any depth):
// an expression's value must fit K's Go type (a string, an integer, a bool, a list or a map of
// them, an object), checked when the spec loads, or, for CEL's dyn (a value from vars), when
// it runs. A field's `expr` tag refines what the struct says: `expr:"-"` forbids giving the
// key as an expression (an opt-in the spec must spell out), and for a json.RawMessage field a
// list of the types it takes, such as `expr:"int|string"` or `expr:"list(string)|string"`
// (string, int, bool, double, and list(T) or map(T) of those). A command without DataType
// takes `K_expr` keys of any value, which its Prepare checks when the requirement runs.
//
// A Command may also have a method UsesCluster() bool that returns true when its Prepared
// values use the cluster (see Prepared): the caller then knows before a run that a spec needs
// one even when the data is only complete at run time; a Command that uses the cluster for
// some data only (the http command's service target) has instead a method
// UsesClusterWith(data json.RawMessage) bool, given the data with its K_expr keys. And a method
// ReadsSecretValues(data json.RawMessage) bool that returns true when data asks for Secret
// values in the output: the requirement's conditions then also get base64.decode and
// base64.encode, and the result is marked.
type DataDescriber interface {
	DataType() reflect.Type
}

// Func adapts a function to the Command interface, for commands whose data needs no checking
// beyond what the function itself does.
type Func func(data json.RawMessage, spec SpecContext) (Prepared, error)

// Prepare calls f.
func (f Func) Prepare(data json.RawMessage, spec SpecContext) (Prepared, error) { return f(data, spec) }

// Prepared is a validated command, ready to run. Run may be called many times and
// concurrently. A Prepared that talks to the cluster also has a method UsesCluster() bool
// that returns true (the scheduler and kubernetes commands do), so that a caller can tell
// before running a spec that it needs one (requirement.Spec.NeedsCluster).
type Prepared interface {
	// Run runs the command once. It must return promptly when ctx is done (ctx carries the
	// command timeout as its deadline). A returned error means the command could not produce
	// a result at all; the runner records it as an output with Err set (and status code
	// CodeTimeout when ctx's deadline passed). Outputs that could be produced are returned as
	// data, including per-node errors of a fan-out.
	Run(ctx context.Context, env *Env) (*Result, error)
}

// RunFunc adapts a function to the Prepared interface.
type RunFunc func(ctx context.Context, env *Env) (*Result, error)

// Run calls f.
func (f RunFunc) Run(ctx context.Context, env *Env) (*Result, error) { return f(ctx, env) }

// SpecContext is what a command may see of the rest of the spec while it prepares.
type SpecContext struct {
	// Pods holds the spec's pod templates (kind: Pod documents) by metadata.name.
	Pods map[string]*corev1.Pod
}

// Env is what the runner hands a command for one run of it.
type Env struct {
	// RequirementID is the id of the requirement the command runs for.
	RequirementID string
	// RunID identifies the whole run; cluster objects a command creates carry it as a label.
	RunID string
	// Namespace is the runner's namespace for cluster commands ("default" when unset).
	Namespace string
	// Config is the caller's cluster configuration, nil when the run has no cluster. Commands
	// must not mutate it: copy it (rest.CopyConfig) to change anything.
	Config *rest.Config
	// Timeout is the command's own timeout (0 means none); ctx already carries it as a
	// deadline, commands that create server-side objects use it to set server-side deadlines.
	Timeout time.Duration
	// OutputLimit caps the bytes kept of stdout and of stderr; 0 means DefaultOutputLimit.
	OutputLimit int
	// Logger receives the command's diagnostics; never nil when the runner calls Run.
	Logger *slog.Logger
	// Session holds values shared by all commands of one run (clients, a watch, caches).
	Session *Session
	// Cluster tunes how cluster commands use the API server.
	Cluster ClusterSettings
	// OnNodeScope and OnNodeDone, when set, receive the progress of a command that runs on
	// several nodes (the scheduler with global or node_selector), so that a caller can show
	// "412 of 1000 nodes" while it runs. OnNodeScope is called at most once, when the command
	// knows how many outputs it will return for nodes (nodes in scope, including those that
	// cannot run it), before any OnNodeDone. OnNodeDone is called once per such output, as
	// soon as that node is done (a node that ran, one that could not, one a rolling step never
	// started), with the Output that Run also returns. It returns the node's status as the
	// requirement's results decide it: "success", "warn" or "error" (anything else counts as
	// "error"); a rolling step (stop_on_failure) stops on it, and its next node waits for it.
	// Both are called before Run returns, from the command's goroutines: several calls may
	// run at once, and they should return quickly. Commands that do not run on nodes call
	// neither; a command's Result stays the whole answer whether or not they are set. The
	// runner sets both (it analyses each output as it is reported, and reuses that analysis
	// for the decision); without OnNodeDone, a node is "error" when its Output has Err or
	// NotRun set or a non-zero StatusCode, else "success".
	OnNodeScope func(nodes int)
	OnNodeDone  func(Output) (status string)
}

// Node statuses OnNodeDone returns, the statuses of the spec's results.
const (
	nodeSuccess = "success"
	nodeWarn    = "warn"
	nodeError   = "error"
)

// nodeDone reports o through OnNodeDone and returns its status, or, when e has no
// OnNodeDone, the status its exit gives.
func (e *Env) nodeDone(o Output) string {
	if e != nil && e.OnNodeDone != nil {
		switch s := e.OnNodeDone(o); s {
		case nodeSuccess, nodeWarn:
			return s
		default:
			return nodeError
		}
	}
	if o.Err != nil || o.NotRun != "" || o.StatusCode != 0 {
		return nodeError
	}
	return nodeSuccess
}

// ClusterSettings tune how cluster commands use the API server. Zero fields take defaults.
type ClusterSettings struct {
	// QPS and Burst are set on a copy of Env.Config for the run's clients.
	QPS   float32
	Burst int
	// MaxConcurrentPods bounds how many pods a run creates at once.
	MaxConcurrentPods int
}

// Limit returns the effective output limit.
func (e *Env) Limit() int {
	if e == nil || e.OutputLimit <= 0 {
		return DefaultOutputLimit
	}
	return e.OutputLimit
}

// Result is what one run of a command produced.
type Result struct {
	// Outputs holds one output for commands that run once, or one per node for commands
	// that fan out over nodes.
	Outputs []Output
	// Excluded lists nodes that were out of the command's scope (a taint the pod does not
	// tolerate, for example), so that no node is dropped silently.
	Excluded []Excluded
	// Privileged is set when the command ran a privileged pod, a pod in a host namespace or
	// a pod with a hostPath volume.
	Privileged bool
	// SecretValues is set when Outputs hold the values of Secrets in Object (the kubernetes
	// command with include_secret_values: true). Stdout never holds them.
	SecretValues bool
	// Notes are remarks worth showing in the decision (for example "logs unavailable, output
	// taken from the termination message").
	Notes []string
}

// Output is the outcome of a command on one target.
type Output struct {
	// Node is the node the output came from, empty for commands that do not run on nodes.
	Node string
	// StatusCode is the exit code (or the HTTP status, or a library code such as CodeTimeout).
	StatusCode int
	// Stdout and Stderr are the captured output, each at most the env's output limit.
	Stdout string
	Stderr string
	// Truncated is set when output was cut at the limit.
	Truncated bool
	// Object, when not nil, is the structured output CEL sees as `output` (for example the
	// objects the kubernetes command read). When nil, `output` is Stdout parsed as JSON.
	Object any
	// Err is set when the command could not produce a result on this target (a timeout, a
	// refused pod, a node that could not run it). It is what condition.error matches.
	Err error
	// NotRun is set, with the reason, for a node in scope that could not run the command
	// (NotReady, unreachable, deleted mid-run). Err is set too.
	NotRun string
	// Duration is how long the command took on this target.
	Duration time.Duration
}

// Excluded is a node a fan-out left out of scope, and why.
type Excluded struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// Session is a per-run store of shared values. The zero value is ready to use. Values that
// implement io.Closer or interface{ Close(context.Context) error } are closed by Close, in
// reverse order of creation.
type Session struct {
	mu     sync.Mutex
	values map[any]*sessionEntry
	order  []any
}

type sessionEntry struct {
	once sync.Once
	v    any
	err  error
}

// Get returns the value stored under key, creating it with create on first use. Concurrent
// callers for the same key wait for the one create call; a failed create is remembered and
// its error returned to every caller.
func (s *Session) Get(key any, create func() (any, error)) (any, error) {
	s.mu.Lock()
	if s.values == nil {
		s.values = map[any]*sessionEntry{}
	}
	e, ok := s.values[key]
	if !ok {
		e = &sessionEntry{}
		s.values[key] = e
		s.order = append(s.order, key)
	}
	s.mu.Unlock()
	e.once.Do(func() { e.v, e.err = create() })
	return e.v, e.err
}

// Close closes every stored value that can be closed, newest first, and returns their errors
// joined. ctx bounds the work of closers that accept one (for example deleting pods).
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	keys := append([]any(nil), s.order...)
	entries := make([]*sessionEntry, len(keys))
	for i, k := range keys {
		entries[i] = s.values[k]
	}
	s.values, s.order = nil, nil
	s.mu.Unlock()
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		switch c := entries[i].v.(type) {
		case interface{ Close(context.Context) error }:
			errs = append(errs, c.Close(ctx))
		case interface{ Close() error }:
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Registry maps command ids to implementations. The zero value is an empty registry; use
// Builtins for one that holds the library's commands. A Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Command
}

// Register adds c under id. It fails when id is empty or already taken.
func (r *Registry) Register(id string, c Command) error {
	if id == "" {
		return errors.New("command id must not be empty")
	}
	if c == nil {
		return fmt.Errorf("command %q: implementation must not be nil", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; ok {
		return fmt.Errorf("command %q is already registered", id)
	}
	if r.m == nil {
		r.m = map[string]Command{}
	}
	r.m[id] = c
	return nil
}

// Lookup returns the command registered under id.
func (r *Registry) Lookup(id string) (Command, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.m[id]
	return c, ok
}

// IDs returns the registered ids, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Builtins returns a new registry holding the library's built-in commands. Callers may
// Register their own commands on it.
func Builtins() *Registry {
	r := &Registry{}
	for id, c := range builtins() {
		if err := r.Register(id, c); err != nil {
			panic(err) // ids are constants of this package
		}
	}
	return r
}
