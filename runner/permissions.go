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
	"k8s.io/client-go/restmapper"

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
// K_expr keys: what it calls is only known when it runs.
var ErrRuntimeData = errors.New("the command's data comes from K_expr keys, known only when the requirement runs")

// Permissions returns the least RBAC rules under which spec runs with opts (its Namespace,
// and its Config to map kinds to resources through the cluster's discovery, as the run
// does): exactly the calls each cluster command declares (command.PermissionLister, the
// same list the commands check with SelfSubjectAccessReviews before their first request),
// list nodes when an expression reads `cluster` (the cluster facts), and create
// selfsubjectaccessreviews when a command checks its permissions up front. A requirement
// whose `when` may skip it counts: the rules cover every path of the run.
//
// It fails, naming the requirement, when a command's data comes from K_expr keys (wrapping
// ErrRuntimeData), when a kubernetes or dry_run command names a kind and opts.Config is nil
// or the cluster does not serve it, or when a dry_run command's files cannot be read: it
// never returns fewer rules than the run needs.
func Permissions(ctx context.Context, spec *requirement.Spec, opts Options) (*PermissionRules, error) {
	if spec == nil {
		return nil, errors.New("runner.Permissions: spec is nil")
	}
	ns := opts.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	var mapper meta.ResettableRESTMapper
	if opts.Config != nil {
		dc, err := discovery.NewDiscoveryClientForConfig(opts.Config)
		if err != nil {
			return nil, fmt.Errorf("discovery client: %w", err)
		}
		mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	} else {
		mapper = noClusterMapper{}
	}
	var perms []command.Permission
	var errs []error
	facts, precheck := false, false
	for _, req := range spec.Requirements {
		if req.When != nil && req.When.UsesCluster() || conditionsUseCluster(req) || valuesUseCluster(req) {
			facts = true
		}
		if req.Command.Prepared == nil {
			if req.Command.Expressions() != nil {
				errs = append(errs, fmt.Errorf("requirement %q: %w: give the data itself to derive its permissions", req.ID, ErrRuntimeData))
			}
			continue
		}
		pl, ok := req.Command.Prepared.(command.PermissionLister)
		if !ok {
			continue
		}
		ps, err := pl.Permissions(ctx, mapper, ns)
		if err != nil {
			errs = append(errs, fmt.Errorf("requirement %q: command %s: %w", req.ID, req.Command.ID, err))
			continue
		}
		if len(ps) > 0 && req.Command.ID != "kubernetes" {
			precheck = true // every built-in cluster command but kubernetes checks up front
		}
		perms = append(perms, ps...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if facts {
		perms = append(perms, command.Permission{Verb: "list", Resource: "nodes", Cluster: true})
	}
	if precheck {
		perms = append(perms, command.Permission{Verb: "create", Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Cluster: true})
	}
	return rulesOf(perms), nil
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
