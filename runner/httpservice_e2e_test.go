//go:build e2e

package runner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// upgradeableApp starts, in ns, a busybox httpd that serves /upgradeable ("yes") from a file
// and /cgi-bin/busy (a 503 with a body) behind Services: web (port 80 named http, and 8081
// named alt, both to the container's port "http"), idle (no pod behind it) and refusing
// (a port nothing listens on). It returns when the pod is Ready.
func upgradeableApp(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	script := `mkdir -p /www/cgi-bin && echo yes > /www/upgradeable &&
printf '#!/bin/sh\necho "Status: 503 Service Unavailable"\necho "Content-Type: text/plain"\necho\necho "not upgradeable: migration running"\n' > /www/cgi-bin/busy &&
chmod +x /www/cgi-bin/busy && exec httpd -f -p 8080 -h /www`
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "web", Image: "busybox", Command: []string{"sh", "-c", script},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
	_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	svc := func(name string, selector map[string]string, ports ...corev1.ServicePort) {
		_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	svc("web", map[string]string{"app": "web"},
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		corev1.ServicePort{Name: "alt", Port: 8081, TargetPort: intstr.FromString("http")})
	svc("idle", map[string]string{"app": "nothing"}, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)})
	svc("refusing", map[string]string{"app": "web"}, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(9999)})
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "the app's pod did not become Ready")
	// The endpoints follow the pod's readiness; wait until the API server's proxy has one.
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := cs.CoreV1().Services(ns).ProxyGet("http", "web", "80", "/upgradeable", nil).DoRaw(ctx)
		last = fmt.Sprintf("%q, %v", b, err)
		return err == nil && string(b) == "yes\n", nil
	})
	if err != nil {
		t.Fatalf("the API server cannot reach the app's pod through the service proxy (last answer: %s): "+
			"the test cluster's API server must reach pod IPs (issue 9 item 5, internal/testcluster)", last)
	}
}

// TestHTTPServiceTargetOnRealCluster: the http command reaches a Service through the real API
// server's service proxy: the app's 200 passes, its 503 fails with its body visible; a
// missing Service, one without a ready endpoint and one whose pod refuses are command
// errors, never a pass; an identity without services/proxy is refused before any request,
// and a Role that grants it for that one Service and port (resourceNames) lets it pass.
func TestHTTPServiceTargetOnRealCluster(t *testing.T) {
	ctx := context.Background()
	cfg, err := cluster.RestConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ns := cluster.Namespace(t, nil)
	upgradeableApp(t, cs, ns)

	const spec = `
custom_requirements:
- id: by-number
  command: {id: http, data: {service: {name: web, port: 80}, path: /upgradeable}}
  results:
  - {status: success, message: upgradeable, condition: {status_code: 200, expr: 'stdout == "yes\n"'}}
  - {status: error, message: not upgradeable}
- id: by-name
  command: {id: http, data: {service: {name: web, port: alt}, path: /upgradeable}}
  results:
  - {status: success, message: upgradeable, condition: {status_code: 200}}
  - {status: error, message: not upgradeable}
- id: busy
  command: {id: http, data: {service: {name: web, namespace: NS, port: http}, path: /cgi-bin/busy}}
  results:
  - {status: success, message: upgradeable, condition: {status_code: 200}}
  - {status: error, message: not upgradeable}
- id: missing
  command: {id: http, data: {service: {name: nope, port: 80}, path: /upgradeable}}
  results:
  - {status: success, condition: {status_code: 200}}
  - {status: error, message: unreachable}
- id: idle
  command: {id: http, data: {service: {name: idle, port: 80}, path: /upgradeable}}
  results:
  - {status: success, condition: {status_code: 200}}
  - {status: error, message: unreachable}
- id: refusing
  command: {id: http, data: {service: {name: refusing, port: 80}, path: /upgradeable}}
  results:
  - {status: success}
`
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "svc.yaml", Reader: strings.NewReader(strings.ReplaceAll(spec, "NS", ns))})
	require.NoError(t, err)
	require.True(t, s.NeedsCluster())
	r, err := runner.New(runner.Options{Config: cfg, Namespace: ns})
	require.NoError(t, err)
	d, err := r.Run(ctx, s)
	require.NoError(t, err)
	byID := map[string]runner.RequirementResult{}
	for _, rr := range d.Requirements {
		byID[rr.ID] = rr
	}
	for _, id := range []string{"by-number", "by-name"} {
		assert.Equal(t, runner.StatusPass, byID[id].Status, "%s: %+v", id, byID[id])
	}
	busy := byID["busy"]
	assert.Equal(t, runner.StatusFail, busy.Status)
	require.NotNil(t, busy.StatusCode)
	assert.Equal(t, 503, *busy.StatusCode)
	assert.Equal(t, "not upgradeable: migration running\n", busy.Stdout)
	assert.Empty(t, busy.Error)
	for id, want := range map[string]string{
		"missing":  `the API server answered 404 instead of the app: the Service does not exist: services "nope" not found`,
		"idle":     `the API server answered 503 instead of the app: no ready pod backs the Service`,
		"refusing": `connection refused`,
	} {
		rr := byID[id]
		assert.NotEqual(t, runner.StatusPass, rr.Status, id)
		assert.Contains(t, rr.Error, want, id)
	}
	assert.NotEqual(t, runner.GatePass, d.Gate)

	// An identity without services/proxy is stopped before its first request.
	user := "svc9-proxy-" + rand.String(5)
	ucfg, err := cluster.UserConfig(ctx, user, nil)
	require.NoError(t, err)
	one, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "one.yaml", Reader: strings.NewReader(`
custom_requirements:
- id: by-number
  command: {id: http, data: {service: {name: web, port: 80}, path: /upgradeable}}
  results:
  - {status: success, condition: {status_code: 200}}
  - {status: error, message: not upgradeable}
`)})
	require.NoError(t, err)
	var log requestLog
	ur, err := runner.New(runner.Options{Config: log.wrap(ucfg), Namespace: ns})
	require.NoError(t, err)
	d, err = ur.Run(ctx, one)
	require.NoError(t, err)
	rr := d.Requirements[0]
	var pe *command.PermissionError
	require.True(t, errors.As(rr.Err, &pe), "%+v", rr)
	require.Len(t, pe.Denied, 1)
	assert.Equal(t, `get services/proxy "web:80"`, pe.Denied[0].String())
	proxyPath := "/api/v1/namespaces/" + ns + "/services/web:80/proxy/upgradeable"
	assert.Zero(t, log.count(proxyPath), "no request before the permission check")

	// A Role for exactly that Service and port is enough.
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "proxy-web"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"services/proxy"}, ResourceNames: []string{"web:80"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "proxy-web"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "proxy-web"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err = ur.Run(ctx, one)
		return err == nil && d.Requirements[0].Status == runner.StatusPass, err
	})
	require.NoError(t, err, "%+v", d.Requirements[0])
	assert.NotZero(t, log.count(proxyPath))
}
