package command

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/internal/podrun"
)

// Permission is one API call a cluster command makes: Verb on Resource (of Group, "" for the
// core group) and Subresource, in Namespace or cluster-wide (Cluster), on one object when
// Name is set. A PermissionError lists them; PermissionLister declares them.
type Permission = podrun.Permission

// AccessReviews remembers the SelfSubjectAccessReviews of one run that were allowed (see
// Env.AccessReviews); its Check asks, concurrently, about the permissions it does not hold and
// returns nil or a *PermissionError listing every denial and every review that failed. The
// zero value is ready. Denials are not remembered.
type AccessReviews = podrun.AccessReviews

// PermissionLister is an optional interface of a Prepared that talks to the API server: it
// returns every API call Run makes for a run in namespace (the run's namespace, "default"
// when empty), with kinds mapped to resources by mapper. The commands that check their
// permissions before their first request (scheduler, logs, dry_run, http with a service)
// check exactly this list, so that what is checked and what runner.Permissions derives for
// RBAC are one declaration. The library's cluster commands all implement it.
type PermissionLister interface {
	Permissions(ctx context.Context, mapper meta.ResettableRESTMapper, namespace string) ([]Permission, error)
}

// inNamespace sets ns on the namespaced permissions of perms that have none.
func inNamespace(perms []Permission, ns string) []Permission {
	out := make([]Permission, len(perms))
	for i, p := range perms {
		if !p.Cluster && p.Namespace == "" {
			p.Namespace = ns
		}
		out[i] = p
	}
	return out
}

// Permissions returns the pod runner's calls (podrun.Permissions, which it checks itself)
// in the pods' namespace.
func (p *schedulerPrepared) Permissions(_ context.Context, _ meta.ResettableRESTMapper, namespace string) ([]Permission, error) {
	return inNamespace(podrun.Permissions(p.fanOut), p.runNamespace(namespace)), nil
}

// runNamespace is where the pods run: data.namespace, else the template's, else the run's.
func (p *schedulerPrepared) runNamespace(runNS string) string {
	ns := p.namespace
	if ns == "" {
		ns = runNS
	}
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return ns
}

// logsPermissions are the calls of a logs command: list the pods, get their logs.
func logsPermissions() []Permission {
	return []Permission{
		{Verb: "list", Resource: "pods"},
		{Verb: "get", Resource: "pods", Subresource: "log"},
	}
}

// Permissions returns logsPermissions in the pods' namespace.
func (p *logsPrepared) Permissions(_ context.Context, _ meta.ResettableRESTMapper, namespace string) ([]Permission, error) {
	return inNamespace(logsPermissions(), namespaceOr(p.namespace, &Env{Namespace: namespace})), nil
}

// Permissions returns, for a service target, the verb its method needs on services/proxy;
// nothing for a URL.
func (p *httpPrepared) Permissions(_ context.Context, _ meta.ResettableRESTMapper, namespace string) ([]Permission, error) {
	if p.svc == nil {
		return nil, nil
	}
	return []Permission{p.svc.permission(p.method, namespaceOr(p.svc.namespace, &Env{Namespace: namespace}))}, nil
}

// Permissions returns what the cluster facts need: list nodes, cluster-wide (see
// clusterinfo.Fetch).
func (clusterInfoPrepared) Permissions(context.Context, meta.ResettableRESTMapper, string) ([]Permission, error) {
	return []Permission{{Verb: "list", Resource: "nodes", Cluster: true}}, nil
}

// Permissions returns get (with a name) or list on the kind's resource, where Run reads it.
func (p *kubernetesPrepared) Permissions(ctx context.Context, mapper meta.ResettableRESTMapper, namespace string) ([]Permission, error) {
	mapping, err := resolveKind(ctx, mapper, p.gv, p.data.Kind)
	if err != nil {
		return nil, err
	}
	where := p.where(mapping, namespace)
	perm := Permission{Verb: "list", Group: mapping.Resource.Group, Resource: mapping.Resource.Resource, Namespace: where.ns, Cluster: where.ns == ""}
	if p.data.Name != "" {
		perm.Verb, perm.Name = "get", p.data.Name
	}
	return []Permission{perm}, nil
}

// Permissions returns create and patch on each object's resource and namespace (the same
// list Run checks), reading data.files as Run does.
func (p *dryRunPrepared) Permissions(ctx context.Context, mapper meta.ResettableRESTMapper, namespace string) ([]Permission, error) {
	objs := p.objects
	if objs == nil {
		var err error
		if objs, err = readManifestFiles(ctx, p.files); err != nil {
			return nil, err
		}
	}
	targets, err := p.resolve(ctx, mapper, objs, namespaceOr(p.namespace, &Env{Namespace: namespace}))
	if err != nil {
		return nil, err
	}
	return dryRunPermissions(targets), nil
}
