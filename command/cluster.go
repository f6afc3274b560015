package command

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/preflightkit/preflight/internal/podrun"
)

// serverClock learns the API server's clock from the Date headers of its responses, so that
// an age measured against timestamps the cluster wrote (log lines, container starts) does not
// depend on the installer's clock, which may be minutes off. The zero value knows nothing yet.
type serverClock struct {
	mu    sync.Mutex
	known bool
	// offset is the server's clock minus this host's, a lower bound: a Date header holds
	// whole seconds and is written before the response arrives, so each response's estimate
	// is at most the true offset, and the largest estimate is the closest.
	offset time.Duration
}

// wrap is a rest.Config transport wrapper that observes every response.
func (c *serverClock) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			c.observe(resp.Header.Get("Date"), time.Now())
		}
		return resp, err
	})
}

// observe takes a Date header received at local time at.
func (c *serverClock) observe(date string, at time.Time) {
	if date == "" {
		return
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	off := t.Sub(at.Round(0))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known || off > c.offset {
		c.known, c.offset = true, off
	}
}

// now returns the server's time (never ahead of it, by the construction of offset) and true,
// or this host's time and false when no response carried a Date header.
func (c *serverClock) now() (time.Time, bool) {
	local := time.Now().Round(0)
	if c == nil {
		return local, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return local, false
	}
	return local.Add(c.offset), true
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// accessKey keys a run's granted permission set in the Session.
type accessKey struct{ set string }

// accessEntry remembers that a permission set was granted.
type accessEntry struct {
	mu      sync.Mutex
	granted bool
}

// checkAccess asks the API server (SelfSubjectAccessReviews, in parallel) whether the run's
// identity may make every call of perms, before the command makes any; namespace is where
// perms without their own namespace are checked. It returns nil or a *PermissionError listing
// every denial and every check that could not be made. A granted set is remembered for the
// run (retries do not ask again); a denial is not, so that a grant made while a requirement
// retries is seen.
func checkAccess(ctx context.Context, env *Env, cs kubernetes.Interface, namespace string, perms []podrun.Permission) error {
	keys := make([]string, len(perms))
	for i, p := range perms {
		keys[i] = p.String() + "@" + p.Namespace + "@" + namespace
		if p.Cluster {
			keys[i] = p.String() + "@cluster"
		}
	}
	slices.Sort(keys)
	sess := env.Session
	if sess == nil {
		sess = &Session{}
	}
	v, _ := sess.Get(accessKey{strings.Join(slices.Compact(keys), ";")}, func() (any, error) { return &accessEntry{}, nil })
	e := v.(*accessEntry)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.granted {
		return nil
	}
	if err := env.AccessReviews.Check(ctx, cs, namespace, perms); err != nil {
		return err
	}
	e.granted = true
	return nil
}
