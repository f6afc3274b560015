package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/internal/podrun"
)

// Limits of the dry_run command.
const (
	// dryRunMaxObjects bounds the objects of one dry run, over all its manifests.
	dryRunMaxObjects = 1000
	// dryRunMaxFileBytes bounds each file of data.files (the spec loader's own input limit).
	dryRunMaxFileBytes = 4 << 20
	// dryRunMaxFiles bounds the entries of data.files.
	dryRunMaxFiles = 100
	// dryRunConcurrency is how many objects are applied at once.
	dryRunConcurrency = 8
	// dryRunMaxMessage bounds the API server's message kept for one object.
	dryRunMaxMessage = 4 << 10
	// dryRunDefaultFieldManager is the field manager of the apply requests.
	dryRunDefaultFieldManager = "preflight"
	// dryRunMaxFieldManager is the API server's limit on a field manager's length.
	dryRunMaxFieldManager = 128
)

// dryRunCommand is the `dry_run` command: a server-side apply with dryRun=All of every
// object of the manifests, so that the API server says, in its own words, whether it would
// accept them (immutable fields, validation, admission and policy, quota, kinds it does not
// serve). Nothing is changed in the cluster.
//
// Outcomes:
//   - every object accepted: status code 0;
//   - some refused: status code 1; `output.objects` has each object's allowed, reason and
//     message; stdout lists the refused objects, then the accepted ones;
//   - a file that cannot be read or parsed, a permission missing, an API server that
//     cannot answer (5xx, timeout): an error.
type dryRunCommand struct{}

// DataType returns the Go type of the command's data (see DataDescriber).
func (dryRunCommand) DataType() reflect.Type { return reflect.TypeOf(dryRunData{}) }

// UsesCluster reports that the command talks to the API server (see DataDescriber).
func (dryRunCommand) UsesCluster() bool { return true }

// dryRunData is the command's data, decoded strictly.
type dryRunData struct {
	Manifests      string   `json:"manifests,omitempty"`
	Files          []string `json:"files,omitempty"`
	Namespace      string   `json:"namespace,omitempty"`
	FieldManager   string   `json:"field_manager,omitempty"`
	ForceConflicts *bool    `json:"force_conflicts,omitempty"`
}

// dryRunPrepared is a validated dry_run command.
type dryRunPrepared struct {
	// objects are the inline manifests, parsed at load time; nil when files are read at run
	// time.
	objects      []*unstructured.Unstructured
	files        []string
	namespace    string
	fieldManager string
	force        bool
}

// Prepare decodes and checks the command's data; inline manifests are parsed here, so that
// a bad one fails the spec's load.
func (dryRunCommand) Prepare(raw json.RawMessage, _ SpecContext) (Prepared, error) {
	var d dryRunData
	if errs := decodeStrict(dataRoot, raw, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	var errs field.ErrorList
	p := &dryRunPrepared{namespace: d.Namespace, fieldManager: dryRunDefaultFieldManager, force: true}
	switch {
	case d.Manifests == "" && len(d.Files) == 0:
		errs = append(errs, invalid(dataRoot, "required: manifests (the objects to dry-run, a YAML stream) or files (paths of manifest files on this host)"))
	case d.Manifests != "" && len(d.Files) > 0:
		errs = append(errs, invalid(dataRoot.Child("files"), "cannot be combined with data.manifests; give one of them"))
	case d.Manifests != "":
		objs, err := parseManifests([]byte(d.Manifests))
		if err != nil {
			errs = append(errs, invalid(dataRoot.Child("manifests"), "%v", err))
		}
		p.objects = objs
	default:
		if len(d.Files) > dryRunMaxFiles {
			errs = append(errs, invalid(dataRoot.Child("files"), "at most %d files, not %d", dryRunMaxFiles, len(d.Files)))
		}
		for i, f := range d.Files {
			if strings.TrimSpace(f) == "" {
				errs = append(errs, invalid(dataRoot.Child("files").Index(i), "must not be empty: a path of a manifest file on this host"))
			}
		}
		p.files = d.Files
	}
	if d.Namespace != "" {
		for _, m := range validation.IsDNS1123Label(d.Namespace) {
			errs = append(errs, invalid(dataRoot.Child("namespace"), "%q is not a namespace name: %s", d.Namespace, m))
		}
	}
	if d.FieldManager != "" {
		if len(d.FieldManager) > dryRunMaxFieldManager {
			errs = append(errs, invalid(dataRoot.Child("field_manager"), "at most %d characters, as the API server accepts", dryRunMaxFieldManager))
		}
		p.fieldManager = d.FieldManager
	}
	if d.ForceConflicts != nil {
		p.force = *d.ForceConflicts
	}
	if err := errs.ToAggregate(); err != nil {
		return nil, err
	}
	return p, nil
}

// UsesCluster reports that the command needs a cluster (see Prepared).
func (p *dryRunPrepared) UsesCluster() bool { return true }

// parseManifests parses a YAML (or JSON) stream of Kubernetes objects: empty documents are
// skipped, a v1 List is flattened into its items, keys are strict (a duplicate is an error),
// and every object needs apiVersion, kind and metadata.name (apply has no generateName).
// metadata.managedFields is dropped (apply refuses it), as kubectl does.
func parseManifests(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	var errs []error
	for doc := 1; ; doc++ {
		b, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		j, err := sigsyaml.YAMLToJSONStrict(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", doc, err))
			continue
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // an empty document, or only comments
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			errs = append(errs, fmt.Errorf("document %d: not a Kubernetes object: %w", doc, err))
			continue
		}
		items := []*unstructured.Unstructured{u}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				errs = append(errs, fmt.Errorf("document %d: %w", doc, err))
				continue
			}
			items = items[:0]
			for i := range list.Items {
				items = append(items, &list.Items[i])
			}
		}
		for i, o := range items {
			where := fmt.Sprintf("document %d", doc)
			if u.IsList() {
				where += fmt.Sprintf(", item %d", i)
			}
			if o.GetAPIVersion() == "" || o.GetKind() == "" {
				errs = append(errs, fmt.Errorf("%s: apiVersion and kind are required", where))
				continue
			}
			if _, err := schema.ParseGroupVersion(o.GetAPIVersion()); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			if md, ok := o.Object["metadata"].(map[string]any); ok {
				if n, ok := md["name"]; ok {
					if _, isString := n.(string); !isString {
						errs = append(errs, fmt.Errorf("%s: metadata.name must be a string, not %v (quote it)", where, n))
						continue
					}
				}
			}
			if o.GetName() == "" {
				errs = append(errs, fmt.Errorf("%s: %s has no metadata.name (server-side apply needs one; generateName cannot be applied)", where, o.GetKind()))
				continue
			}
			o.SetManagedFields(nil)
			objs = append(objs, o)
		}
		if len(objs) > dryRunMaxObjects {
			return nil, fmt.Errorf("more than %d objects (the most one dry run applies): split them over several requirements", dryRunMaxObjects)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, errors.New("the manifests hold no object")
	}
	return objs, nil
}

// readManifestFiles reads and parses data.files, each at most dryRunMaxFileBytes.
func readManifestFiles(ctx context.Context, files []string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, name := range files {
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		b, err := readFileBounded(name, dryRunMaxFileBytes)
		if err != nil {
			return nil, err
		}
		objs, err := parseManifests(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		all = append(all, objs...)
		if len(all) > dryRunMaxObjects {
			return nil, fmt.Errorf("the files hold more than %d objects (the most one dry run applies): split them over several requirements", dryRunMaxObjects)
		}
	}
	return all, nil
}

// readFileBounded reads a regular file of at most limit bytes.
func readFileBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB, the limit of a manifest file", name, limit>>20)
	}
	return b, nil
}

// dryRunTarget is one object to apply and what became of it.
type dryRunTarget struct {
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping
	ns      string
	allowed bool
	reason  string
	message string
	cut     bool  // the message was cut at dryRunMaxMessage
	err     error // the API server could not answer
}

// Run applies every object with dryRun=All.
func (p *dryRunPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.Config == nil {
		return nil, fmt.Errorf("the dry_run command needs a cluster, but %w", ErrNoCluster)
	}
	start := time.Now()
	objs := p.objects
	if objs == nil {
		var err error
		if objs, err = readManifestFiles(ctx, p.files); err != nil {
			return nil, err
		}
	}
	clients, err := kubeClientsFor(env)
	if err != nil {
		return nil, err
	}
	defaultNS := namespaceOr(p.namespace, env)
	targets, err := p.resolve(ctx, clients.mapper, objs, defaultNS)
	if err != nil {
		return nil, err
	}
	if err := checkAccess(ctx, env, clients.typed, defaultNS, dryRunPermissions(targets)); err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: p.fieldManager, Force: p.force}
	var g errgroup.Group
	g.SetLimit(dryRunConcurrency)
	for _, t := range targets {
		if t.mapping == nil {
			continue // refused already: a kind the cluster does not serve
		}
		g.Go(func() error {
			ri := clients.dynamic.Resource(t.mapping.Resource)
			var err error
			if t.ns != "" {
				_, err = ri.Namespace(t.ns).Apply(ctx, t.obj.GetName(), t.obj, opts)
			} else {
				_, err = ri.Apply(ctx, t.obj.GetName(), t.obj, opts)
			}
			t.classify(err)
			return nil // every object is tried
		})
	}
	_ = g.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("dry-running %d objects: %w", len(targets), err)
	}
	var failed []string
	for _, t := range targets {
		if t.err != nil {
			failed = append(failed, t.describe()+": "+t.err.Error())
		}
	}
	if len(failed) > 0 {
		return nil, fmt.Errorf("the API server could not dry-run %d of %d objects: %s", len(failed), len(targets), listSome(failed, 10))
	}
	var out Output
	objects := make([]any, len(targets))
	var refused, accepted []string
	for i, t := range targets {
		objects[i] = map[string]any{
			"api_version": t.obj.GetAPIVersion(),
			"kind":        t.obj.GetKind(),
			"namespace":   t.ns,
			"name":        t.obj.GetName(),
			"allowed":     t.allowed,
			"reason":      t.reason,
			"message":     t.message,
		}
		out.Truncated = out.Truncated || t.cut
		if t.allowed {
			accepted = append(accepted, "accepted: "+t.describe()+"\n")
		} else {
			refused = append(refused, "refused: "+t.describe()+": "+t.reason+": "+t.message+"\n")
			out.StatusCode = CodeGeneralError
		}
	}
	out.Object = map[string]any{"objects": objects}
	stdout := newCappedBuffer(env.Limit())
	for _, s := range append(refused, accepted...) {
		_, _ = stdout.Write([]byte(s))
	}
	out.Stdout = stdout.String()
	out.Truncated = out.Truncated || stdout.Truncated()
	out.Duration = time.Since(start)
	return &Result{Outputs: []Output{out}}, nil
}

// resolve maps each object's kind to a resource (once per kind) and its namespace: the
// object's own, else defaultNS, for namespaced kinds; none for cluster-scoped ones. A kind
// the cluster does not serve refuses the object (reason NotFound), as the API server would.
func (p *dryRunPrepared) resolve(ctx context.Context, mapper meta.ResettableRESTMapper, objs []*unstructured.Unstructured, defaultNS string) ([]*dryRunTarget, error) {
	type answer struct {
		m   *meta.RESTMapping
		err error
	}
	kinds := map[schema.GroupVersionKind]answer{}
	targets := make([]*dryRunTarget, len(objs))
	for i, o := range objs {
		gvk := o.GroupVersionKind()
		a, ok := kinds[gvk]
		if !ok {
			a.m, a.err = resolveKind(ctx, mapper, gvk.GroupVersion(), gvk.Kind)
			if a.err != nil && !meta.IsNoMatchError(a.err) {
				return nil, a.err
			}
			kinds[gvk] = a
		}
		t := &dryRunTarget{obj: o}
		targets[i] = t
		if a.err != nil {
			t.ns = o.GetNamespace()
			t.reason, t.message = string(metav1.StatusReasonNotFound), a.err.Error()+": the cluster does not serve this kind (install its CustomResourceDefinition or API first)"
			continue
		}
		t.mapping = a.m
		if a.m.Scope.Name() == meta.RESTScopeNameNamespace {
			t.ns = o.GetNamespace()
			if t.ns == "" {
				t.ns = defaultNS
			}
			if t.ns != o.GetNamespace() {
				t.obj = o.DeepCopy()
				t.obj.SetNamespace(t.ns)
			}
		} else if o.GetNamespace() != "" {
			t.obj = o.DeepCopy()
			t.obj.SetNamespace("")
		}
	}
	return targets, nil
}

// dryRunPermissions lists, without repeats, create and patch (a server-side apply is a patch
// that creates the object when it is missing) on each resource and namespace of targets.
func dryRunPermissions(targets []*dryRunTarget) []podrun.Permission {
	var perms []podrun.Permission
	seen := map[podrun.Permission]bool{}
	for _, t := range targets {
		if t.mapping == nil {
			continue
		}
		for _, verb := range []string{"create", "patch"} {
			p := podrun.Permission{Verb: verb, Group: t.mapping.Resource.Group, Resource: t.mapping.Resource.Resource, Namespace: t.ns, Cluster: t.ns == ""}
			if !seen[p] {
				seen[p] = true
				perms = append(perms, p)
			}
		}
	}
	return perms
}

// classify records the API server's answer to the apply: accepted, refused (a 4xx status in
// the server's own words: Invalid, Forbidden, Conflict, NotFound, ...) or unanswered (a 5xx,
// a timeout, a connection error, or an authentication failure: the dry run says nothing
// about the manifests then).
func (t *dryRunTarget) classify(err error) {
	if err == nil {
		t.allowed = true
		return
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		switch code := s.Code; {
		case code >= 400 && code < 500 && code != 401 && code != 408 && code != 429:
			t.reason = string(s.Reason)
			if t.reason == "" {
				t.reason = string(apierrors.ReasonForError(err))
			}
			t.message = s.Message
			if len(t.message) > dryRunMaxMessage {
				cut := dryRunMaxMessage
				for cut > 0 && !utf8.RuneStart(t.message[cut]) {
					cut--
				}
				t.message, t.cut = t.message[:cut]+"…", true
			}
			return
		}
	}
	t.err = err
}

// describe names the object as `Kind namespace/name (apiVersion)`.
func (t *dryRunTarget) describe() string {
	name := t.obj.GetName()
	if t.ns != "" {
		name = t.ns + "/" + name
	}
	return fmt.Sprintf("%s %s (%s)", t.obj.GetKind(), name, t.obj.GetAPIVersion())
}
