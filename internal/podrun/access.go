package podrun

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one API verb on one resource that a run uses.
type Permission struct {
	Verb string
	// Group is the resource's API group, "" for the core group.
	Group       string
	Resource    string
	Subresource string
	// Name, when set, is the one object the call is made on (a Service's proxy name such as
	// "myapp:8080"); a check with a name is granted by a rule with that resourceName too.
	Name string
	// Cluster is set for cluster-scoped checks (nodes); otherwise the check is in Namespace,
	// or in the namespace CheckPermissions is given when Namespace is empty.
	Cluster   bool
	Namespace string
}

// String returns "verb resource[.group][/subresource] [name]", as in "get pods/log",
// "patch statefulsets.apps" or `get services/proxy "myapp:8080"`.
func (p Permission) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Name != "" {
		r += fmt.Sprintf(" %q", p.Name)
	}
	return p.Verb + " " + r
}

// Permissions returns exactly the API calls a run in one namespace makes: the pods it creates,
// lists and watches (one informer), deletes, their logs, the events it watches for sandbox
// failures, and, for a fan-out, the nodes it lists and gets (to tell a vanished node).
func Permissions(fanOut bool) []Permission {
	ps := []Permission{
		{Verb: "create", Resource: "pods"},
		{Verb: "list", Resource: "pods"},
		{Verb: "watch", Resource: "pods"},
		{Verb: "delete", Resource: "pods"},
		{Verb: "get", Resource: "pods", Subresource: "log"},
		{Verb: "list", Resource: "events"},
		{Verb: "watch", Resource: "events"},
	}
	if fanOut {
		ps = append(ps,
			Permission{Verb: "list", Resource: "nodes", Cluster: true},
			Permission{Verb: "get", Resource: "nodes", Cluster: true},
		)
	}
	return ps
}

// PermissionError lists every permission a run lacks (Denied) and every permission that could
// not be verified (Unknown, with the error). Either kind stops the run before it creates
// anything: an unknown permission is never taken as granted.
type PermissionError struct {
	Namespace string
	Denied    []Permission
	// Reasons holds the authorizer's reason for each denial, when it gave one.
	Reasons []string
	Unknown []Permission
	Errs    []error
}

// Error returns `insufficient permissions in namespace "x": cannot delete pods; cannot get
// pods/log` and/or `could not verify permission to list nodes: <err>`.
func (e *PermissionError) Error() string {
	var parts []string
	for i, p := range e.Denied {
		s := "cannot " + p.String()
		if p.Cluster {
			s += " (cluster-wide)"
		} else if p.Namespace != "" && p.Namespace != e.Namespace {
			s += fmt.Sprintf(" in namespace %q", p.Namespace)
		}
		if e.Reasons[i] != "" {
			s += " (" + e.Reasons[i] + ")"
		}
		parts = append(parts, s)
	}
	msg := ""
	switch {
	case len(parts) > 0 && e.Namespace == "": // cluster-wide checks only
		msg = "insufficient permissions: " + strings.Join(parts, "; ")
	case len(parts) > 0:
		msg = fmt.Sprintf("insufficient permissions in namespace %q: %s", e.Namespace, strings.Join(parts, "; "))
	}
	var unk []string
	for i, p := range e.Unknown {
		unk = append(unk, fmt.Sprintf("could not verify permission to %s: %v", p, e.Errs[i]))
	}
	if len(unk) > 0 {
		if msg != "" {
			msg += "; "
		}
		msg += strings.Join(unk, "; ")
	}
	return msg + "; nothing was created"
}

// Unwrap returns the errors of the checks that could not be made.
func (e *PermissionError) Unwrap() []error { return e.Errs }

// CheckPermissions asks the API server, with one SelfSubjectAccessReview per permission (sent
// in parallel), whether the caller may make every call of perms in namespace. It returns nil
// when all are allowed and a *PermissionError listing every denial and every check that failed
// otherwise.
func CheckPermissions(ctx context.Context, cs kubernetes.Interface, namespace string, perms []Permission) error {
	type answer struct {
		allowed bool
		reason  string
		err     error
	}
	answers := make([]answer, len(perms))
	var wg sync.WaitGroup
	for i, p := range perms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ra := &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name}
			switch {
			case p.Cluster:
			case p.Namespace != "":
				ra.Namespace = p.Namespace
			default:
				ra.Namespace = namespace
			}
			r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
				&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra}},
				metav1.CreateOptions{})
			switch {
			case err != nil:
				answers[i] = answer{err: err}
			default:
				reason := r.Status.Reason
				if r.Status.EvaluationError != "" {
					reason = strings.TrimPrefix(reason+"; evaluation error: "+r.Status.EvaluationError, "; ")
				}
				answers[i] = answer{allowed: r.Status.Allowed && !r.Status.Denied, reason: reason}
			}
		}()
	}
	wg.Wait()
	pe := &PermissionError{Namespace: namespace}
	for i, a := range answers {
		switch {
		case a.err != nil:
			pe.Unknown = append(pe.Unknown, perms[i])
			pe.Errs = append(pe.Errs, a.err)
		case !a.allowed:
			pe.Denied = append(pe.Denied, perms[i])
			pe.Reasons = append(pe.Reasons, a.reason)
		}
	}
	if len(pe.Denied) == 0 && len(pe.Unknown) == 0 {
		return nil
	}
	return pe
}
