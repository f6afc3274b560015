package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/pager"

	"github.com/preflightkit/preflight/internal/podrun"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of the kubernetes command.
const (
	// kubernetesMaxListItems bounds how many objects one list reads. A list that has more
	// stops there; the result carries a note saying so and CEL sees the first
	// kubernetesMaxListItems objects.
	kubernetesMaxListItems = 10000
	// kubernetesPageSize is how many objects one list request asks for (kubectl's chunk size).
	kubernetesPageSize = 500
	// kubeDiscoveryTimeout bounds each discovery request when the caller's config sets no
	// timeout.
	kubeDiscoveryTimeout = 30 * time.Second
	// kubeUserAgent is the user agent of the kubernetes command's requests.
	kubeUserAgent = "preflight-kubernetes"
)

// kubernetesCommand is the `kubernetes` command: it gets one object (data.name set) or lists
// objects of any kind the cluster serves, custom resources included, and hands them to CEL as
// `output`.
//
// Outcomes:
//   - get, found: status code 0, `output` is the object;
//   - get, not found: status code 1, `output` is null, no error (absence is data);
//   - list: status code 0, `output.items` holds the objects (empty when none match);
//   - no cluster, unknown kind, forbidden, or any other API failure: an error (the
//     requirement fails closed unless a result with `condition.error: true` handles it).
//
// Objects reach CEL without metadata.managedFields, as kubectl shows them. The values of
// Secrets are redacted (see redactSecret) unless data.include_secret_values is true, and even
// then only `output` holds them, never stdout.
type kubernetesCommand struct{}

// kubernetesData is the command's data, decoded strictly.
type kubernetesData struct {
	APIVersion    string `json:"api_version"`
	Kind          string `json:"kind"`
	Namespace     string `json:"namespace,omitempty"`
	Name          string `json:"name,omitempty"`
	LabelSelector string `json:"label_selector,omitempty"`
	FieldSelector string `json:"field_selector,omitempty"`
	// AllNamespaces lists a namespaced kind across every namespace (kubectl's -A).
	AllNamespaces bool `json:"all_namespaces,omitempty"`
	// IncludeSecretValues hands CEL the values of the Secrets read (kind Secret only); the
	// opt-in must be written out, never computed.
	IncludeSecretValues bool `json:"include_secret_values,omitempty" expr:"-"`
}

// DataType returns the type of the kubernetes command's data.
func (kubernetesCommand) DataType() reflect.Type { return reflect.TypeOf(kubernetesData{}) }

// UsesCluster reports that the command reads the cluster (see DataDescriber).
func (kubernetesCommand) UsesCluster() bool { return true }

// ReadsSecretValues reports whether data opts in to Secret values (see DataDescriber).
func (kubernetesCommand) ReadsSecretValues(data json.RawMessage) bool {
	var d struct {
		IncludeSecretValues bool `json:"include_secret_values"`
	}
	return json.Unmarshal(data, &d) == nil && d.IncludeSecretValues
}

// kubernetesPrepared is a validated kubernetes command.
type kubernetesPrepared struct {
	data kubernetesData
	gv   schema.GroupVersion
	// labels and fields are the parsed selectors, in the canonical form sent to the server.
	labels string
	fields string
}

// Prepare decodes and checks the command's data.
func (kubernetesCommand) Prepare(raw json.RawMessage, _ SpecContext) (Prepared, error) {
	var d kubernetesData
	if errs := decodeStrict(dataRoot, raw, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	var errs field.ErrorList
	p := &kubernetesPrepared{data: d}
	if d.APIVersion == "" {
		errs = append(errs, invalid(dataRoot.Child("api_version"), `required, such as "v1", "apps/v1" or "ceph.rook.io/v1"`))
	} else if gv, err := schema.ParseGroupVersion(d.APIVersion); err != nil || gv.Version == "" {
		errs = append(errs, invalid(dataRoot.Child("api_version"), `%q is not a group/version such as "v1" or "apps/v1"`, d.APIVersion))
	} else {
		p.gv = gv
	}
	if d.Kind == "" {
		errs = append(errs, invalid(dataRoot.Child("kind"), `required, the kind as written in an object's "kind" field, such as "Pod"`))
	} else if strings.ContainsAny(d.Kind, "/. ") {
		errs = append(errs, invalid(dataRoot.Child("kind"), `%q is not a kind; write the group in api_version and the kind alone, such as "Deployment"`, d.Kind))
	}
	if d.Name != "" && d.LabelSelector != "" {
		errs = append(errs, invalid(dataRoot.Child("label_selector"), "cannot be combined with data.name; give name to get one object, or a selector to list objects"))
	}
	if d.Name != "" && d.FieldSelector != "" {
		errs = append(errs, invalid(dataRoot.Child("field_selector"), "cannot be combined with data.name; give name to get one object, or a selector to list objects"))
	}
	if d.AllNamespaces && d.Name != "" {
		errs = append(errs, invalid(dataRoot.Child("all_namespaces"), "cannot be combined with data.name: an object is got from one namespace (as kubectl refuses get NAME with -A); give namespace, or list without name"))
	}
	if d.AllNamespaces && d.Namespace != "" {
		errs = append(errs, invalid(dataRoot.Child("all_namespaces"), "cannot be combined with data.namespace: give one namespace, or all_namespaces: true to list them all"))
	}
	if d.IncludeSecretValues && (d.Kind != "" && d.Kind != "Secret" || d.APIVersion != "" && d.APIVersion != "v1") {
		errs = append(errs, invalid(dataRoot.Child("include_secret_values"), "only applies to Secrets (api_version: v1, kind: Secret): other kinds are not redacted"))
	}
	if d.LabelSelector != "" {
		if sel, err := labels.Parse(d.LabelSelector); err != nil {
			errs = append(errs, invalid(dataRoot.Child("label_selector"), "%v", err))
		} else {
			p.labels = sel.String()
		}
	}
	if d.FieldSelector != "" {
		if sel, err := fields.ParseSelector(d.FieldSelector); err != nil {
			errs = append(errs, invalid(dataRoot.Child("field_selector"), "%v", err))
		} else {
			p.fields = sel.String()
		}
	}
	if err := errs.ToAggregate(); err != nil {
		return nil, err
	}
	return p, nil
}

// kubeClientsKey is the Session key of a run's kubernetes command clients.
type kubeClientsKey struct{}

// kubeClients are the clients the cluster commands (kubernetes, logs, dry_run) share across
// one run.
type kubeClients struct {
	dynamic dynamic.Interface
	mapper  meta.ResettableRESTMapper
	typed   kubernetes.Interface
	// clock is the API server's clock, learnt from its responses.
	clock *serverClock
}

// kubeClientsFor returns the run's clients, creating them from a copy of env.Config on first
// use.
func kubeClientsFor(env *Env) (*kubeClients, error) {
	session := env.Session
	if session == nil {
		session = &Session{} // no sharing possible, still correct
	}
	v, err := session.Get(kubeClientsKey{}, func() (any, error) {
		// The run's rate limits and user agent, on a copy: env.Config is never changed.
		cfg := podrun.RunConfig(env.Config, podrun.Options{QPS: env.Cluster.QPS, Burst: env.Cluster.Burst})
		cfg.UserAgent = strings.TrimSuffix(cfg.UserAgent, podrun.UserAgent) + kubeUserAgent
		clock := &serverClock{}
		cfg.Wrap(clock.wrap)
		dcfg := rest.CopyConfig(cfg)
		if dcfg.Timeout == 0 {
			// Discovery calls take no context; bound each request instead.
			dcfg.Timeout = kubeDiscoveryTimeout
		}
		dc, err := discovery.NewDiscoveryClientForConfig(dcfg)
		if err != nil {
			return nil, fmt.Errorf("discovery client: %w", err)
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("dynamic client: %w", err)
		}
		typed, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		return &kubeClients{
			dynamic: dyn,
			mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
			typed:   typed,
			clock:   clock,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*kubeClients), nil
}

// Run gets or lists the objects.
// UsesCluster reports that the command needs a cluster (see Prepared).
func (p *kubernetesPrepared) UsesCluster() bool { return true }

func (p *kubernetesPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.Config == nil {
		return nil, errors.New("the kubernetes command needs a cluster: no cluster configuration was given (set runner.Options.Config, or --kubeconfig)")
	}
	start := time.Now()
	clients, err := kubeClientsFor(env)
	if err != nil {
		return nil, err
	}
	mapping, err := resolveKind(ctx, clients.mapper, p.gv, p.data.Kind)
	if err != nil {
		return nil, err
	}
	where := p.where(mapping, env.Namespace)
	ns := where.ns
	var ri dynamic.ResourceInterface = clients.dynamic.Resource(mapping.Resource)
	if ns != "" {
		ri = clients.dynamic.Resource(mapping.Resource).Namespace(ns)
	}
	res := &Result{}
	var out Output
	if p.data.Name != "" {
		out, err = p.get(ctx, ri, mapping.Resource, where)
	} else {
		out, res.Notes, err = p.list(ctx, ri, mapping.Resource, where)
	}
	if err != nil {
		return nil, err
	}
	if out.Object != nil {
		shown := out.Object
		if isSecretKind(mapping.GroupVersionKind) {
			// stdout (and everything printed from it: -o json, events, logs) never holds a
			// value; output (CEL) holds them only when the spec opted in.
			shown = redactSecrets(out.Object)
			if p.data.IncludeSecretValues {
				res.SecretValues = true
			} else {
				out.Object = shown
			}
		}
		out.Stdout, out.Truncated, err = kubeJSON(shown, env.Limit())
		if err != nil {
			return nil, err
		}
	}
	out.Duration = time.Since(start)
	res.Outputs = []Output{out}
	return res, nil
}

// where is where Run reads the kind of mapping: in data.namespace, else the run's namespace
// runNS ("default" when empty), for a namespaced kind; all namespaces with all_namespaces;
// nowhere in particular (ns "") for a cluster-scoped kind.
func (p *kubernetesPrepared) where(mapping *meta.RESTMapping, runNS string) kubeWhere {
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if !namespaced || p.data.AllNamespaces {
		return kubeWhere{all: namespaced}
	}
	return kubeWhere{ns: namespaceOr(p.data.Namespace, &Env{Namespace: runNS})}
}

// resolveKind maps a kind of group/version gv to a resource through discovery. A kind the
// cached discovery does not know triggers one fresh discovery, so custom resources whose CRD
// was installed moments ago resolve.
func resolveKind(ctx context.Context, mapper meta.ResettableRESTMapper, gv schema.GroupVersion, kind string) (*meta.RESTMapping, error) {
	gk := schema.GroupKind{Group: gv.Group, Kind: kind}
	// Discovery calls take no context; run them aside so that ctx still bounds the command.
	type answer struct {
		m   *meta.RESTMapping
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		m, err := mapper.RESTMapping(gk, gv.Version)
		if meta.IsNoMatchError(err) {
			mapper.Reset()
			m, err = mapper.RESTMapping(gk, gv.Version)
		}
		ch <- answer{m, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("resolving kind %s in %s: %w", kind, gv, context.Cause(ctx))
	}
	if a.err == nil {
		return a.m, nil
	}
	if meta.IsNoMatchError(a.err) {
		hint := ""
		// A common slip: the plural resource name or a lower-case kind.
		if gvk, err := mapper.KindFor(gv.WithResource(strings.ToLower(kind))); err == nil && gvk.Kind != kind {
			hint = fmt.Sprintf(" (kinds are case-sensitive and singular: did you mean %q?)", gvk.Kind)
		}
		return nil, fmt.Errorf("no kind %q in group/version %q: %w%s", kind, gv.String(), a.err, hint)
	}
	return nil, fmt.Errorf("resolving kind %s in %s through discovery: %w", kind, gv, a.err)
}

// get reads one object; not found is data.
func (p *kubernetesPrepared) get(ctx context.Context, ri dynamic.ResourceInterface, gvr schema.GroupVersionResource, where kubeWhere) (Output, error) {
	obj, err := ri.Get(ctx, p.data.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Output{StatusCode: CodeGeneralError}, nil
	}
	if err != nil {
		return Output{}, kubeAPIError("get", gvr, where, p.data.Name, err)
	}
	stripManagedFields(obj.Object)
	return Output{Object: obj.Object}, nil
}

// list reads the matching objects page by page (client-go's pager, which falls back to one
// full list when a continue token expires), at most kubernetesMaxListItems of them.
func (p *kubernetesPrepared) list(ctx context.Context, ri dynamic.ResourceInterface, gvr schema.GroupVersionResource, where kubeWhere) (Output, []string, error) {
	seen, cut := 0, false
	lp := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		if opts.Continue == "" {
			// The first page, or the pager's full list after an expired continue token (the
			// list outlived the server's compaction window): the list starts over.
			seen, cut = 0, false
		}
		// Never ask for more than the cap leaves room for: this bounds the pager's full list
		// (which asks for no limit) as well as the pages.
		room := int64(kubernetesMaxListItems - seen)
		if opts.Limit == 0 || opts.Limit > room {
			opts.Limit = room
		}
		page, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		// A server may ignore the limit; the cut is made here either way. Clearing the
		// continue token ends the pager's loop.
		if int64(len(page.Items)) > room || (int64(len(page.Items)) == room && page.GetContinue() != "") {
			page.Items = page.Items[:min(int64(len(page.Items)), room)]
			page.SetContinue("")
			cut = true
		}
		seen += len(page.Items)
		return page, nil
	})
	lp.PageSize = kubernetesPageSize
	obj, _, err := lp.List(ctx, metav1.ListOptions{LabelSelector: p.labels, FieldSelector: p.fields})
	if err != nil {
		return Output{}, nil, kubeAPIError("list", gvr, where, "", err)
	}
	items := []any{}
	if err := meta.EachListItem(obj, func(o runtime.Object) error {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("the list holds a %T, not an object", o)
		}
		stripManagedFields(u.Object)
		items = append(items, u.Object)
		return nil
	}); err != nil {
		return Output{}, nil, kubeAPIError("list", gvr, where, "", err)
	}
	var notes []string
	if cut {
		notes = append(notes, fmt.Sprintf("the list of %s stopped at %d objects (the limit of one list); conditions saw only those", gvr.Resource, kubernetesMaxListItems))
	}
	out := map[string]any{
		"apiVersion": p.gv.String(),
		"kind":       p.data.Kind + "List",
		"items":      items,
	}
	if lm, err := meta.ListAccessor(obj); err == nil && lm.GetResourceVersion() != "" {
		out["metadata"] = map[string]any{"resourceVersion": lm.GetResourceVersion()}
	}
	return Output{Object: out}, notes, nil
}

// kubeWhere is where the command reads: one namespace, every namespace, or the cluster scope
// (a cluster-scoped kind).
type kubeWhere struct {
	ns  string
	all bool
}

func (w kubeWhere) String() string {
	switch {
	case w.all:
		return "in all namespaces"
	case w.ns != "":
		return fmt.Sprintf("in namespace %q", w.ns)
	}
	return "at the cluster scope"
}

// kubeForbidden is a read the API server refused: its text names the verb, the resource and
// where, and errors.As finds the *PermissionError (Cluster set for a cluster-wide read) and the
// API's own error.
type kubeForbidden struct {
	msg  string
	perm *PermissionError
	api  error
}

func (e *kubeForbidden) Error() string   { return e.msg }
func (e *kubeForbidden) Unwrap() []error { return []error{e.perm, e.api} }

// apiReason is the API server's message of err.
func apiReason(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) && s.Status().Message != "" {
		return s.Status().Message
	}
	return err.Error()
}

// kubeAPIError turns an API error into one that names the verb, the resource and where.
func kubeAPIError(verb string, gvr schema.GroupVersionResource, where kubeWhere, name string, err error) error {
	what := gvr.Resource
	if gvr.Group != "" {
		what += "." + gvr.Group
	}
	if name != "" {
		what += " " + fmt.Sprintf("%q", name)
	}
	switch {
	case apierrors.IsForbidden(err):
		grant := "to the identity the run uses"
		if where.ns == "" {
			// Reading across namespaces, or a cluster-scoped kind, is authorized at the
			// cluster scope: a Role in one namespace does not grant it.
			grant = "cluster-wide (a ClusterRole and a ClusterRoleBinding) to the identity the run uses"
		}
		return &kubeForbidden{
			msg: fmt.Sprintf("cannot %s %s %s: forbidden: %v (grant %q on %q %s)", verb, what, where, err, verb, gvr.GroupResource().String(), grant),
			perm: &PermissionError{Namespace: where.ns,
				Denied:  []podrun.Permission{{Verb: verb, Resource: gvr.GroupResource().String(), Cluster: where.ns == ""}},
				Reasons: []string{apiReason(err)}},
			api: err,
		}
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("cannot %s %s %s: unauthorized: the cluster rejected the credentials: %w", verb, what, where, err)
	default:
		return fmt.Errorf("cannot %s %s %s: %w", verb, what, where, err)
	}
}

// stripManagedFields removes metadata.managedFields, which kubectl hides too: it is bulky and
// says nothing a requirement needs.
func stripManagedFields(obj map[string]any) {
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
}

// kubeJSON renders obj as the command's stdout, cut at limit bytes.
func kubeJSON(obj any, limit int) (string, bool, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", false, fmt.Errorf("encoding the objects as JSON: %w", err)
	}
	if len(b) > limit {
		return string(b[:limit]), true, nil
	}
	return string(b), false, nil
}
