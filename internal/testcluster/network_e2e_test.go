//go:build e2e

package testcluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestPodUsesInClusterConfig runs a Go program in a pod that builds client-go's in-cluster
// config (the kubernetes Service, the mounted token and CA) and lists the pods of its
// namespace through the Service's IP, as a ServiceAccount allowed to do just that. The pod has
// no default route.
func TestPodUsesInClusterConfig(t *testing.T) {
	if !cluster.Local() {
		t.Skip("the program reaches the pod through a hostPath of this machine")
	}
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "incluster"), "./testdata/incluster")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Chmod(dir, 0o755))

	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "list-pods"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "list-pods"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "list-pods"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)

	p := busyboxPod("incluster", "ip route; echo KUBERNETES_SERVICE_HOST=$KUBERNETES_SERVICE_HOST; exec /prog/incluster")
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "prog", MountPath: "/prog", ReadOnly: true}}
	p.Spec.Volumes = []corev1.Volume{{Name: "prog", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(t, err)
	p = waitPod(t, cs, ns, "incluster", finished)
	logs, err := cs.CoreV1().Pods(ns).GetLogs("incluster", &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase, "%s", logs)
	require.Contains(t, string(logs), "KUBERNETES_SERVICE_HOST=10.0.0.1\n")
	require.Contains(t, string(logs), "server https://10.0.0.1:443\n")
	require.Contains(t, string(logs), "pod incluster\n")
	require.NotContains(t, string(logs), "default", "the pod has a default route:\n%s", logs)

	deletePodsAndCheckEmpty(t, cs, ns, "incluster")
}

// TestAPIServerProxiesToPods serves a file from a pod behind a Service and reads it through
// the apiserver's services/proxy and pods/proxy (the apiserver reaching the pod's IP), and
// from another pod through the Service's IP (kube-proxy routing pod to pod).
func TestAPIServerProxiesToPods(t *testing.T) {
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	want := "hello " + token(t)

	srv := busyboxPod("web", "mkdir /www && echo '"+want+"' > /www/hello && exec httpd -f -p 8080 -h /www")
	srv.Labels = map[string]string{"app": "web"}
	srv.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	srv.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hello", Port: intstr.FromInt32(8080)}}}
	_, err := cs.CoreV1().Pods(ns).Create(ctx, srv, metav1.CreateOptions{})
	require.NoError(t, err)
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	waitPod(t, cs, ns, "web", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return finished(p)
	})

	body, err := cs.CoreV1().Pods(ns).ProxyGet("http", "web", "8080", "/hello", nil).DoRaw(ctx)
	require.NoError(t, err)
	require.Equal(t, want+"\n", string(body))
	// The Service's endpoints follow the pod's readiness; wait for them, not for a time.
	var last error
	for ctx.Err() == nil {
		body, last = cs.CoreV1().Services(ns).ProxyGet("http", "web", "http", "/hello", nil).DoRaw(ctx)
		if last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, last)
	require.Equal(t, want+"\n", string(body))

	// (busybox-static's wget crashes in these pods; nc speaks the request.)
	cli := busyboxPod("client", `printf 'GET /hello HTTP/1.0\r\n\r\n' | nc -w 10 `+svc.Spec.ClusterIP+" 80")
	_, err = cs.CoreV1().Pods(ns).Create(ctx, cli, metav1.CreateOptions{})
	require.NoError(t, err)
	p := waitPod(t, cs, ns, "client", finished)
	logs, err := cs.CoreV1().Pods(ns).GetLogs("client", &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase, "%s", logs)
	require.True(t, strings.HasPrefix(string(logs), "HTTP/1.1 200 OK"), "%s", logs)
	require.True(t, strings.HasSuffix(string(logs), "\n"+want+"\n"), "%s", logs)

	deletePodsAndCheckEmpty(t, cs, ns, "web", "client")
}

// TestPodsCannotReachHostServices listens on every address of this machine and has a pod
// try the host's addresses it can route to (the bridge's gateway and the apiserver's side of
// the veth pair): the input guard drops both, while the apiserver's own port stays reachable.
func TestPodsCannotReachHostServices(t *testing.T) {
	if !cluster.Local() {
		t.Skip("the listener runs on this machine")
	}
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	ctx := context.Background()
	ln, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	script := "for a in 10.244.0.1 10.250.0.1; do if nc -w 3 $a " + port + " </dev/null; then echo reached $a; else echo refused $a; fi; done; " +
		"if nc -w 3 10.250.0.1 6443 </dev/null; then echo apiserver ok; fi"
	_, err = cs.CoreV1().Pods(ns).Create(ctx, busyboxPod("probe", script), metav1.CreateOptions{})
	require.NoError(t, err)
	p := waitPod(t, cs, ns, "probe", finished)
	logs, err := cs.CoreV1().Pods(ns).GetLogs("probe", &corev1.PodLogOptions{}).DoRaw(ctx)
	require.NoError(t, err)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase, "%s", logs)
	require.Contains(t, string(logs), "refused 10.244.0.1\n")
	require.Contains(t, string(logs), "refused 10.250.0.1\n")
	require.Contains(t, string(logs), "apiserver ok")
	require.Empty(t, accepted, "a pod reached a service of the host:\n%s", logs)

	deletePodsAndCheckEmpty(t, cs, ns, "probe")
}
