package podrun

import (
	"context"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// reviewConcurrency bounds the SelfSubjectAccessReviews one Check has in flight.
const reviewConcurrency = 8

// AccessReviews remembers the SelfSubjectAccessReviews of one run that were allowed, so that
// a permission the run checked up front is not asked again when a command checks it before
// its first request. Denials and failed reviews are not remembered: a grant made while a
// requirement retries is seen. The zero value is ready; a nil *AccessReviews remembers
// nothing. It is safe for concurrent use; one identity (one run's configuration) uses it.
type AccessReviews struct {
	mu      sync.Mutex
	allowed map[authorizationv1.ResourceAttributes]bool
}

// reviewAnswer is the answer to one review.
type reviewAnswer struct {
	allowed bool
	reason  string
	err     error
}

// Check asks the API server, with one SelfSubjectAccessReview per permission not already
// allowed in a (at most reviewConcurrency at once), whether the caller may make every call of
// perms; namespace is where a namespaced permission without its own Namespace is checked. It
// returns nil when all are allowed and a *PermissionError listing every denial and every
// review that failed otherwise.
func (a *AccessReviews) Check(ctx context.Context, cs kubernetes.Interface, namespace string, perms []Permission) error {
	answers := make([]reviewAnswer, len(perms))
	var g errgroup.Group
	g.SetLimit(reviewConcurrency)
	for i, p := range perms {
		ra := attributes(p, namespace)
		if a.known(ra) {
			answers[i] = reviewAnswer{allowed: true}
			continue
		}
		g.Go(func() error {
			answers[i] = review(ctx, cs, ra)
			if answers[i].allowed {
				a.remember(ra)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through answers
	pe := &PermissionError{Namespace: namespace}
	for i, ans := range answers {
		switch {
		case ans.err != nil:
			pe.Unknown = append(pe.Unknown, perms[i])
			pe.Errs = append(pe.Errs, ans.err)
		case !ans.allowed:
			pe.Denied = append(pe.Denied, perms[i])
			pe.Reasons = append(pe.Reasons, ans.reason)
		}
	}
	if len(pe.Denied) == 0 && len(pe.Unknown) == 0 {
		return nil
	}
	return pe
}

func (a *AccessReviews) known(ra authorizationv1.ResourceAttributes) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.allowed[ra]
}

func (a *AccessReviews) remember(ra authorizationv1.ResourceAttributes) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.allowed == nil {
		a.allowed = map[authorizationv1.ResourceAttributes]bool{}
	}
	a.allowed[ra] = true
}

// attributes are the review's attributes of p, checked in namespace when p is namespaced and
// names none.
func attributes(p Permission, namespace string) authorizationv1.ResourceAttributes {
	ra := authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name}
	switch {
	case p.Cluster:
	case p.Namespace != "":
		ra.Namespace = p.Namespace
	default:
		ra.Namespace = namespace
	}
	return ra
}

// review asks the API server whether the caller may make the call of ra.
func review(ctx context.Context, cs kubernetes.Interface, ra authorizationv1.ResourceAttributes) reviewAnswer {
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
		&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}},
		metav1.CreateOptions{})
	if err != nil {
		return reviewAnswer{err: err}
	}
	reason := r.Status.Reason
	if r.Status.EvaluationError != "" {
		reason = strings.TrimPrefix(reason+"; evaluation error: "+r.Status.EvaluationError, "; ")
	}
	return reviewAnswer{allowed: r.Status.Allowed && !r.Status.Denied, reason: reason}
}
