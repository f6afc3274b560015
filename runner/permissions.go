package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/preflightkit/preflight/analyzer"
	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// PermissionRules are the RBAC rules a spec's run needs: Namespaces holds, per namespace, the
// rules of a Role there; Cluster the rules of a ClusterRole (cluster-scoped resources,
// reads across all namespaces, SelfSubjectAccessReviews). Rules are merged (one per
// resource, subresource and object name, with its verbs) and sorted; none has a wildcard.
type PermissionRules struct {
	Namespaces map[string][]rbacv1.PolicyRule
	Cluster    []rbacv1.PolicyRule
}

// ErrRuntimeData is returned by Permissions for a requirement whose command's data comes from
// K_expr keys that read `cluster` or `results`: what it calls is only known when it runs.
// Keys that read only vars, app and phase are evaluated with the options' values instead.
var ErrRuntimeData = errors.New("the command's data comes from K_expr keys that read cluster or results, known only when the requirement runs")

// ErrUnresolvedData is returned by Permissions for a requirement whose command's data comes
// from K_expr keys that read only vars, app and phase but cannot be computed from the options'
// values (a var not given, data the command refuses): give them as the run will.
var ErrUnresolvedData = errors.New("the command's data could not be computed from the given vars, app and phase")

// ssarPermission is what the run's permission check, and a command's own, need to ask.
var ssarPermission = command.Permission{Verb: "create", Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Cluster: true}

// factsPermission is what reading the cluster facts needs.
var factsPermission = command.Permission{Verb: "list", Resource: "nodes", Cluster: true}

// Permissions returns the least RBAC rules under which spec runs with opts (its Namespace,
// and its Config to map kinds to resources through the cluster's discovery, as the run
// does): exactly the calls each cluster command declares (command.PermissionLister, the
// same list the commands check with SelfSubjectAccessReviews before their first request),
// list nodes when an expression reads `cluster` (the cluster facts), and create
// selfsubjectaccessreviews whenever there is any rule (the run checks them all with reviews). A requirement
// whose `when` may skip it counts: the rules cover every path of the run. A command whose
// data comes from K_expr keys that read only vars, app and phase is derived from the data
// those keys give with opts (Vars, AppVersion, PreviousVersion, Phase), as Run computes it.
//
// It fails, naming the requirement, when a command's data comes from K_expr keys that read
// `cluster` or `results` (wrapping ErrRuntimeData) or cannot be computed from opts (wrapping
// ErrUnresolvedData), when a
// kubernetes or dry_run command names a kind and opts.Config is nil or the cluster does not
// serve it, or when a dry_run command's files cannot be read: it never returns fewer rules
// than the run needs.
func Permissions(ctx context.Context, spec *requirement.Spec, opts Options) (*PermissionRules, error) {
	if spec == nil {
		return nil, errors.New("runner.Permissions: spec is nil")
	}
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	if opts.Phase == "" {
		opts.Phase = Install
	}
	mapper, err := newMapper(opts.Config)
	if err != nil {
		return nil, err
	}
	base := baseContextOf(&opts, nil)
	var perms []command.Permission
	var errs []error
	for _, req := range spec.Requirements {
		n, err := needsOf(ctx, req, mapper, &base, command.SpecContext{Pods: spec.Pods})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		perms = append(perms, n.perms...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(perms) > 0 {
		// The run's permission check (and each command's own) asks with
		// SelfSubjectAccessReviews before anything else.
		perms = append(perms, ssarPermission)
	}
	return rulesOf(perms), nil
}

// newMapper maps kinds to resources through cfg's discovery, lazily (no request until a kind
// is mapped); with no cfg it maps none.
func newMapper(cfg *rest.Config) (meta.ResettableRESTMapper, error) {
	if cfg == nil {
		return noClusterMapper{}, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), nil
}

// needs is what one requirement calls: perms, each with its namespace set (the run's, base's
// app.namespace, when the command names none).
type needs struct {
	perms []command.Permission
}

// needsOf derives what req calls in a run whose vars, app and phase are base's: its command's
// declared permissions (its data computed from base when K_expr keys read nothing else) and
// factsPermission when an expression of req reads `cluster`. Its error names req.
func needsOf(ctx context.Context, req *requirement.Requirement, mapper meta.ResettableRESTMapper, base *analyzer.Context, spec command.SpecContext) (needs, error) {
	var n needs
	if req.When != nil && req.When.UsesCluster() || conditionsUseCluster(req) || valuesUseCluster(req) {
		n.perms = append(n.perms, factsPermission)
	}
	prepared := req.Command.Prepared
	if prepared == nil {
		exprs := req.Command.Expressions()
		if exprs == nil {
			return n, nil
		}
		for _, e := range exprs {
			if e.Reads("cluster") || e.Reads("results") {
				return needs{}, fmt.Errorf("requirement %q: %w (%s): give the data itself to derive its permissions", req.ID, ErrRuntimeData, e.Source())
			}
		}
		p, err := req.Command.Resolve(ctx, base, spec)
		if err != nil {
			return needs{}, fmt.Errorf("requirement %q: %w (give them as the run does: Options.Vars, AppVersion, Phase; --set, --values, --app-version, --phase): %w", req.ID, ErrUnresolvedData, err)
		}
		prepared = p
	}
	pl, ok := prepared.(command.PermissionLister)
	if !ok {
		return n, nil
	}
	ps, err := pl.Permissions(ctx, mapper, base.App.Namespace)
	if err != nil {
		return needs{}, fmt.Errorf("requirement %q: command %s: %w", req.ID, req.Command.ID, err)
	}
	for _, p := range ps {
		if !p.Cluster && p.Namespace == "" {
			p.Namespace = base.App.Namespace
		}
		n.perms = append(n.perms, p)
	}
	return n, nil
}

// noClusterMapper maps no kind: without a cluster configuration, kinds cannot be mapped to
// resources the way the run maps them.
type noClusterMapper struct{ meta.RESTMapper }

func (noClusterMapper) Reset() {}

func (noClusterMapper) RESTMapping(gk schema.GroupKind, _ ...string) (*meta.RESTMapping, error) {
	return nil, fmt.Errorf("mapping kind %s to its resource needs the cluster's discovery, as the run does: give a cluster configuration (runner.Options.Config, --kubeconfig)", gk)
}

// rulesOf merges perms into rules per scope: one rule per group, resource[/subresource] and
// object name, holding its verbs, all sorted.
func rulesOf(perms []command.Permission) *PermissionRules {
	type key struct{ scope, group, resource, name string }
	verbs := map[key][]string{}
	for _, p := range perms {
		res := p.Resource
		if p.Subresource != "" {
			res += "/" + p.Subresource
		}
		scope := p.Namespace
		if p.Cluster {
			scope = ""
		}
		k := key{scope, p.Group, res, p.Name}
		if !slices.Contains(verbs[k], p.Verb) {
			verbs[k] = append(verbs[k], p.Verb)
		}
	}
	keys := make([]key, 0, len(verbs))
	for k := range verbs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.scope+"\x00"+a.group+"\x00"+a.resource+"\x00"+a.name, b.scope+"\x00"+b.group+"\x00"+b.resource+"\x00"+b.name)
	})
	out := &PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{}}
	for _, k := range keys {
		v := verbs[k]
		slices.Sort(v)
		rule := rbacv1.PolicyRule{Verbs: v, APIGroups: []string{k.group}, Resources: []string{k.resource}}
		if k.name != "" {
			rule.ResourceNames = []string{k.name}
		}
		if k.scope == "" {
			out.Cluster = append(out.Cluster, rule)
		} else {
			out.Namespaces[k.scope] = append(out.Namespaces[k.scope], rule)
		}
	}
	return out
}
