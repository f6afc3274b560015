//go:build e2e

package runner_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// rbacSpec touches every kind of permission: a check pod (scheduler), a ConfigMap read
// (kubernetes), the cluster facts, and the app's Service through the service proxy.
const rbacSpec = `
custom_requirements:
- id: pod
  command: {id: scheduler, timeout: 120, data: {kubernetes: {pod: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox, command: ["true"]}]}}}}}
  results:
  - {status: success, condition: {status_code: 0}}
  - {status: error, message: the check pod failed}
- id: config
  command: {id: kubernetes, data: {api_version: v1, kind: ConfigMap, name: app-config}}
  results:
  - {status: success, condition: {expr: 'output.data.mode == "ready"'}}
  - {status: error, message: not ready}
- id: nodes
  when: size(cluster.nodes) > 0
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
- id: upgradeable
  command: {id: http, data: {service: {name: web, port: 80}, path: /upgradeable}}
  results:
  - {status: success, condition: {status_code: 200}}
  - {status: error, message: not upgradeable}
`

// grantRules creates ServiceAccount sa in ns with rules (a Role per namespace, a ClusterRole
// for the cluster rules, as preflight rbac prints them) and returns a configuration that
// authenticates as sa with a token from the TokenRequest API. The cluster-scoped objects are
// deleted when t ends, and checked gone.
func grantRules(t *testing.T, admin *rest.Config, cs kubernetes.Interface, ns, sa string, rules *runner.PermissionRules) *rest.Config {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	require.NoError(t, err)
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}
	for rns, rs := range rules.Namespaces {
		if len(rs) == 0 {
			continue
		}
		_, err := cs.RbacV1().Roles(rns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: rs}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.RbacV1().RoleBindings(rns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa}, Subjects: subject}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	if len(rules.Cluster) > 0 {
		name := sa + "-" + ns
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules.Cluster}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			assert.NoError(t, cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}))
			_, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "ClusterRole %s left behind", name)
		})
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: subject}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			assert.NoError(t, cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}))
			_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "ClusterRoleBinding %s left behind", name)
		})
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(900))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

func ptrTo[T any](v T) *T { return &v }

// drop is one verb of one rule of rules removed: Scope is "" for the ClusterRole, else the
// Role's namespace.
type drop struct {
	scope string
	rule  int
	verb  string
}

func (d drop) String() string { return fmt.Sprintf("%s/%d/%s", d.scope, d.rule, d.verb) }

// without returns a copy of rules with d's verb removed (and its rule when no verb is left).
func without(rules *runner.PermissionRules, d drop) *runner.PermissionRules {
	cut := func(rs []rbacv1.PolicyRule, i int) []rbacv1.PolicyRule {
		out := make([]rbacv1.PolicyRule, 0, len(rs))
		for j, r := range rs {
			r.Verbs = slices.Clone(r.Verbs)
			if j == i {
				r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == d.verb })
				if len(r.Verbs) == 0 {
					continue
				}
			}
			out = append(out, r)
		}
		return out
	}
	out := &runner.PermissionRules{Namespaces: map[string][]rbacv1.PolicyRule{}}
	for ns, rs := range rules.Namespaces {
		i := -1
		if ns == d.scope {
			i = d.rule
		}
		out.Namespaces[ns] = cut(rs, i)
	}
	i := -1
	if d.scope == "" {
		i = d.rule
	}
	out.Cluster = cut(rules.Cluster, i)
	return out
}

// TestDerivedRBACOnRealCluster: the rules runner.Permissions derives for a spec (what
// preflight rbac prints) are sufficient: the spec passes when run as a ServiceAccount that has
// exactly them; and necessary: with any one verb of any one rule removed, the run fails with
// a *command.PermissionError naming that permission, before it creates anything (no pod
// appears in the namespace), whatever requirement needs it.
func TestDerivedRBACOnRealCluster(t *testing.T) {
	ctx := context.Background()
	admin, cs, ns := clusterAccess(t)
	upgradeableApp(t, cs, ns)
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"}, Data: map[string]string{"mode": "ready"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	spec, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "rbac.yaml", Reader: strings.NewReader(rbacSpec)})
	require.NoError(t, err)
	rules, err := runner.Permissions(ctx, spec, runner.Options{Namespace: ns, Config: admin})
	require.NoError(t, err)

	run := func(cfg *rest.Config) (*runner.Decision, error) {
		r, err := runner.New(runner.Options{Config: cfg, Namespace: ns})
		require.NoError(t, err)
		return r.Run(ctx, spec)
	}

	// Sufficient. RBAC grants reach the authorizer's cache within moments: poll.
	cfg := grantRules(t, admin, cs, ns, "gate", rules)
	var d *runner.Decision
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		d, err = run(cfg)
		return err == nil && d.Gate == runner.GatePass, err
	})
	require.NoError(t, err, "with exactly the derived rules the spec passes: %+v", d)
	assertPodsDeleted(t, cs, ns, d.RunID)

	// Necessary. Every pod the namespace sees from now on is recorded: none may appear.
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	require.NoError(t, err)
	var created []string
	var watched sync.WaitGroup
	watched.Add(1)
	go func() {
		defer watched.Done()
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				created = append(created, p.Name)
			}
		}
	}()

	var drops []drop
	for scope, rs := range rules.Namespaces {
		for i, r := range rs {
			for _, v := range r.Verbs {
				drops = append(drops, drop{scope, i, v})
			}
		}
	}
	for i, r := range rules.Cluster {
		if slices.Contains(r.Resources, "selfsubjectaccessreviews") {
			// Not shown necessary here: the system:basic-user ClusterRole, bound to every
			// authenticated user by default, already allows creating SelfSubjectAccessReviews.
			// preflight rbac still prints it: clusters may remove system:basic-user's
			// bindings, and the run's permission check needs it.
			continue
		}
		for _, v := range r.Verbs {
			drops = append(drops, drop{"", i, v})
		}
	}
	require.GreaterOrEqual(t, len(drops), 10, "rules: %+v", rules)
	var g errgroup.Group
	g.SetLimit(4)
	for n, dr := range drops {
		rule := rules.Cluster
		if dr.scope != "" {
			rule = rules.Namespaces[dr.scope]
		}
		r := rule[dr.rule]
		want := command.Permission{Verb: dr.verb, Group: r.APIGroups[0], Resource: r.Resources[0], Namespace: dr.scope, Cluster: dr.scope == ""}
		if res, sub, ok := strings.Cut(want.Resource, "/"); ok {
			want.Resource, want.Subresource = res, sub
		}
		if len(r.ResourceNames) > 0 {
			want.Name = r.ResourceNames[0]
		}
		sa := fmt.Sprintf("drop-%d", n)
		dcfg := grantRules(t, admin, cs, ns, sa, without(rules, dr))
		g.Go(func() error {
			// Until the authorizer has seen the kept rules, more may be denied: wait until
			// exactly the dropped permission is.
			var last string
			err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
				d, err := run(dcfg)
				if err != nil {
					return false, err
				}
				if d.Gate == runner.GatePass {
					return false, fmt.Errorf("passed without %s", want)
				}
				var denied []command.Permission
				for _, rr := range d.Requirements {
					var pe *command.PermissionError
					if errors.As(rr.Err, &pe) {
						denied = append(denied, pe.Denied...)
						if len(pe.Unknown) > 0 {
							return false, fmt.Errorf("%s: unknown permissions: %v", rr.ID, pe)
						}
					} else if rr.Status != runner.StatusNotRun && rr.Status != runner.StatusSkipped {
						return false, fmt.Errorf("without %s, %s ran (%s: %s): the run did not stop before creating anything", want, rr.ID, rr.Status, rr.Error)
					}
				}
				last = fmt.Sprint(denied)
				for _, p := range denied {
					if p != want {
						return false, nil
					}
				}
				return len(denied) > 0, nil
			})
			if err != nil {
				return fmt.Errorf("drop %s (%s): %w (last denials: %s)", dr, want, err, last)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	w.Stop()
	watched.Wait()
	assert.Empty(t, created, "a run without one of its permissions created pods")
}
