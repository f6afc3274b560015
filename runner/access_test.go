package runner

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/preflightkit/preflight/command"
)

// fakeReviews answers the run's SelfSubjectAccessReviews: denied when deny says so, an error
// when fail does; it records every review asked.
type fakeReviews struct {
	deny func(ra authorizationv1.ResourceAttributes) bool
	fail func(ra authorizationv1.ResourceAttributes) bool
	mu   sync.Mutex
	// asked lists "verb resource[/sub] ns" of each review.
	asked []string
}

func (f *fakeReviews) client(*rest.Config, *Options) (kubernetes.Interface, error) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := *r.Spec.ResourceAttributes
		res := ra.Resource
		if ra.Subresource != "" {
			res += "/" + ra.Subresource
		}
		f.mu.Lock()
		f.asked = append(f.asked, strings.TrimSpace(ra.Verb+" "+res+" "+ra.Namespace))
		f.mu.Unlock()
		if f.fail != nil && f.fail(ra) {
			return true, nil, errors.New("connection reset by peer")
		}
		r.Status.Allowed = f.deny == nil || !f.deny(ra)
		if !r.Status.Allowed {
			r.Status.Reason = "no RBAC policy matched"
		}
		return true, r, nil
	})
	return cs, nil
}

func TestRunChecksPermissionsUpFront(t *testing.T) {
	const clusterSpec = `custom_requirements:
- id: pods
  strict: true
  command: {id: scheduler, data: {kubernetes: {pod: {spec: {containers: [{name: c, image: busybox}]}}}}}
  results: [{status: success, condition: {status_code: 0}}]
- id: app-logs
  command: {id: logs, data: {label_selector: app=web, namespace: app}}
  results: [{status: success}]
- id: upgradeable
  when: phase == "upgrade"
  command: {id: http, data: {service: {name: web, namespace: app, port: 80}, path: /upgradeable}}
  results: [{status: success, condition: {status_code: 200}}]
- id: big
  when: size(cluster.nodes) > 0
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
`
	// allowed are the reviews of the install phase (upgradeable's `when` is false).
	allowed := []string{
		"create pods gate", "list pods gate", "watch pods gate", "delete pods gate", "get pods/log gate",
		"list events gate", "watch events gate", "list pods app", "get pods/log app", "list nodes",
	}
	tests := []struct {
		name      string
		phase     Phase
		deny      func(authorizationv1.ResourceAttributes) bool
		fail      func(authorizationv1.ResourceAttributes) bool
		wantAsked []string
		// wantDenied maps the requirements failed by the check to their error's text.
		wantDenied map[string]string
		wantGate   Gate
	}{
		{name: "denied pod delete: the scheduler fails, nothing runs", phase: Install,
			deny:      func(ra authorizationv1.ResourceAttributes) bool { return ra.Verb == "delete" },
			wantAsked: allowed,
			wantDenied: map[string]string{
				"pods": `insufficient permissions in namespace "gate": cannot delete pods (no RBAC policy matched); nothing was created`,
			},
			wantGate: GateBlocked},
		{name: "denied pods/log in two namespaces: each requirement lists its own", phase: Install,
			deny:      func(ra authorizationv1.ResourceAttributes) bool { return ra.Subresource == "log" },
			wantAsked: allowed,
			wantDenied: map[string]string{
				"pods":     `insufficient permissions in namespace "gate": cannot get pods/log (no RBAC policy matched); nothing was created`,
				"app-logs": `insufficient permissions in namespace "gate": cannot get pods/log in namespace "app" (no RBAC policy matched); nothing was created`,
			},
			wantGate: GateBlocked},
		{name: "denied cluster facts", phase: Install,
			deny:       func(ra authorizationv1.ResourceAttributes) bool { return ra.Resource == "nodes" },
			wantAsked:  allowed,
			wantDenied: map[string]string{"big": `insufficient permissions in namespace "gate": cannot list nodes (cluster-wide) (no RBAC policy matched); nothing was created`},
			wantGate:   GateBlocked},
		{name: "a review that fails is never a grant", phase: Install,
			fail:       func(ra authorizationv1.ResourceAttributes) bool { return ra.Verb == "watch" && ra.Resource == "events" },
			wantAsked:  allowed,
			wantDenied: map[string]string{"pods": `could not verify permission to watch events: connection reset by peer; nothing was created`},
			wantGate:   GateBlocked},
		{name: "upgrade phase: the service proxy is checked too", phase: Upgrade,
			deny:       func(ra authorizationv1.ResourceAttributes) bool { return ra.Subresource == "proxy" },
			wantAsked:  append(slicesClone(allowed), "get services/proxy app"),
			wantDenied: map[string]string{"upgradeable": `insufficient permissions in namespace "gate": cannot get services/proxy "web:80" in namespace "app" (no RBAC policy matched); nothing was created`},
			wantGate:   GateBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Int32
			marker := newReq("host", func(context.Context, *command.Env) (*command.Result, error) {
				ran.Add(1)
				return &command.Result{Outputs: []command.Output{{}}}, nil
			})
			var events eventLog
			r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}, Namespace: "gate", Phase: tt.phase, OnEvent: events.on})
			require.NoError(t, err)
			f := &fakeReviews{deny: tt.deny, fail: tt.fail}
			r.newReviewClient = f.client
			var facts atomic.Int32
			r.fetchCluster = func(context.Context, *rest.Config) (map[string]any, error) {
				facts.Add(1)
				return map[string]any{"nodes": []any{}}, nil
			}
			s := loadSpec(t, clusterSpec)
			s.Requirements = append(s.Requirements, marker)
			d, err := r.Run(context.Background(), s)
			require.NoError(t, err)
			assert.ElementsMatch(t, tt.wantAsked, f.asked, "one review per permission, all before anything runs")
			assert.Zero(t, ran.Load(), "no command ran")
			assert.Zero(t, facts.Load(), "the cluster facts were not read")
			for _, e := range events.events {
				assert.NotEqual(t, EventStarted, e.Type, "no requirement started")
			}
			assert.Equal(t, tt.wantGate, d.Gate)
			for _, rr := range d.Requirements {
				want, denied := tt.wantDenied[rr.ID]
				switch {
				case denied:
					assert.Equal(t, StatusFail, rr.Status, rr.ID)
					assert.Equal(t, want, rr.Error, rr.ID)
					var pe *command.PermissionError
					assert.True(t, errors.As(rr.Err, &pe), rr.ID)
				default:
					// Nothing ran, so nothing is skipped either (upgradeable's `when` is
					// false at install, which a note says).
					assert.Equal(t, StatusNotRun, rr.Status, rr.ID)
					assert.Contains(t, rr.Message, "not run: the run's permission check failed for ", rr.ID)
				}
			}
			assert.Len(t, events.events, len(d.Requirements), "one finished event per requirement")
		})
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func TestRunPermissionCheckAnswersAreReused(t *testing.T) {
	// app-logs and upgradeable check their own permissions before their first request: with
	// the run's answers held, they ask nothing more (their clients reach example.invalid, so
	// a review of theirs would fail the requirement with a PermissionError).
	const src = `custom_requirements:
- id: app-logs
  command: {id: logs, data: {label_selector: app=web, namespace: app}}
  results: [{status: success}]
- id: upgradeable
  command: {id: http, data: {service: {name: web, namespace: app, port: 80}, path: /upgradeable}}
  results: [{status: success, condition: {status_code: 200}}]
- id: later
  depends_on: [app-logs]
  command: {id: logs, data: {label_selector: app=web, namespace_expr: 'results["app-logs"] == "pass" ? "app" : "other"'}}
  results: [{status: success}]
`
	r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}, Namespace: "gate"})
	require.NoError(t, err)
	f := &fakeReviews{}
	r.newReviewClient = f.client
	d, err := r.Run(context.Background(), loadSpec(t, src))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"list pods app", "get pods/log app", "get services/proxy app"}, f.asked,
		"later's data comes from results: it is not derived, its command checks for itself")
	for _, id := range []string{"app-logs", "upgradeable"} {
		rr := byID(d, id)
		var pe *command.PermissionError
		assert.False(t, errors.As(rr.Err, &pe), "%s: its check was answered by the run's: %v", id, rr.Err)
		assert.Equal(t, StatusFail, rr.Status, "%s reaches example.invalid and fails", id)
	}
}

func TestRunPermissionCheckSkippedWithoutCluster(t *testing.T) {
	r, err := New(Options{})
	require.NoError(t, err)
	f := &fakeReviews{}
	r.newReviewClient = f.client
	d, err := r.Run(context.Background(), loadSpec(t, "custom_requirements:\n- id: l\n  command: {id: logs, data: {label_selector: a=b}}\n  results: [{status: success}]\n"))
	require.NoError(t, err)
	assert.Empty(t, f.asked)
	assert.Equal(t, StatusFail, d.Requirements[0].Status, "a cluster command without a cluster fails, never passes")
}

func TestRunPermissionCheckFailureIsAnalysed(t *testing.T) {
	// A requirement stopped by the check is analysed as if its command had failed with the
	// PermissionError: a result for command errors gives its message; nothing passes.
	const src = `custom_requirements:
- id: handled
  command: {id: logs, data: {label_selector: app=web}}
  results:
  - {status: warn, message: "could not read the logs", condition: {error: true}}
  - {status: success}
- id: unconditional
  command: {id: logs, data: {label_selector: app=db}}
  results: [{status: success, message: fine}]
`
	r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}, Namespace: "gate"})
	require.NoError(t, err)
	r.newReviewClient = (&fakeReviews{deny: func(ra authorizationv1.ResourceAttributes) bool { return ra.Subresource == "log" }}).client
	d, err := r.Run(context.Background(), loadSpec(t, src))
	require.NoError(t, err)
	for id, want := range map[string]Status{"handled": StatusWarn, "unconditional": StatusFail} {
		rr := byID(d, id)
		assert.Equal(t, want, rr.Status, id)
		var pe *command.PermissionError
		assert.True(t, errors.As(rr.Err, &pe), id)
		assert.Contains(t, rr.Error, "cannot get pods/log", id)
	}
	assert.Equal(t, "could not read the logs", byID(d, "handled").Message)
	assert.NotEqual(t, GatePass, d.Gate)
}

// A run stopped by its permission check never passes on what it did not run: a strict
// requirement that depends on the refused one, with a `when` false from the vars, is not run
// (not skipped) even when the refused one is acknowledged; and on an upgrade without a
// previous version, a requirement that reads it fails as in a run.
func TestRunPermissionCheckStoppedRunNeverPasses(t *testing.T) {
	const stoppedSpec = `custom_requirements:
- id: a
  command: {id: logs, data: {label_selector: app=web}}
  results: [{status: success}]
- id: b
  strict: true
  depends_on: [a]
  when: vars.enabled
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
- id: c
  strict: true
  when: app.previous_version != ""
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
`
	r, err := New(Options{Config: &rest.Config{Host: "https://example.invalid"}, Namespace: "gate", Phase: Upgrade,
		Vars: map[string]any{"enabled": false}, Acknowledge: []string{"a"}})
	require.NoError(t, err)
	r.newReviewClient = (&fakeReviews{deny: func(ra authorizationv1.ResourceAttributes) bool { return ra.Subresource == "log" }}).client
	d, err := r.Run(context.Background(), loadSpec(t, stoppedSpec))
	require.NoError(t, err)
	got := map[string]RequirementResult{}
	for _, rr := range d.Requirements {
		got[rr.ID] = rr
	}
	assert.Equal(t, StatusFail, got["a"].Status)
	assert.Equal(t, StatusNotRun, got["b"].Status, "not skipped: nothing ran")
	assert.Equal(t, StatusFail, got["c"].Status)
	assert.ErrorIs(t, got["c"].Err, errNoPreviousVersion)
	assert.Equal(t, GateBlocked, d.Gate)
}
