//go:build e2e

package testcluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/preflightkit/preflight/internal/testcluster"
)

// smokeKwokNodes is how many simulated nodes the smoke test asks for.
const smokeKwokNodes = 100

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	cluster = testcluster.ForTestMain(testcluster.Options{KwokNodes: smokeKwokNodes})
	os.Exit(m.Run())
}

// hangGuard bounds a test that would otherwise hang on a broken cluster; it is not a timing
// assertion: every wait below ends on an event, long before it.
const hangGuard = 5 * time.Minute

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := cluster.Client()
	require.NoError(t, err)
	return cs
}

func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// busyboxPod is a one-shot pod on the real node (any node when the cluster is not local).
func busyboxPod(name string, script string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "main",
				Image:   testcluster.BusyboxImage,
				Command: []string{"sh", "-c", script},
			}},
		},
	}
	if cluster.Local() {
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testcluster.RealNodeName}
	}
	return p
}

// waitPod watches the pod until cond holds and returns the pod as it was then.
func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	ev, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		return ok && e.Type != watch.Deleted && cond(p), nil
	})
	require.NoError(t, err, "waiting for pod %s/%s", ns, name)
	return ev.Object.(*corev1.Pod)
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// deletePodsAndCheckEmpty deletes the pods, waits until they are gone, and asserts that the
// namespace holds no pod.
func deletePodsAndCheckEmpty(t *testing.T, cs kubernetes.Interface, ns string, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range names {
		err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if !apierrors.IsNotFound(err) {
			require.NoError(t, err)
		}
	}
	gctx, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	for _, name := range names {
		for {
			_, err := cs.CoreV1().Pods(ns).Get(gctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			require.NoError(t, gctx.Err(), "pod %s/%s still exists", ns, name)
			time.Sleep(200 * time.Millisecond)
		}
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, pods.Items, "pods left in %s", ns)
}

func TestServerVersion(t *testing.T) {
	v, err := client(t).Discovery().ServerVersion()
	require.NoError(t, err)
	if cluster.Local() {
		require.Equal(t, testcluster.KubernetesVersion, v.GitVersion)
	}
}

func TestRealNodePodExitCodeAndLogs(t *testing.T) {
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	want := "hello from preflight " + token(t)
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(),
		busyboxPod("exit3", "echo '"+want+"'; exit 3"), metav1.CreateOptions{})
	require.NoError(t, err)

	p := waitPod(t, cs, ns, "exit3", finished)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	if cluster.Local() {
		require.Equal(t, testcluster.RealNodeName, p.Spec.NodeName)
	}
	require.Len(t, p.Status.ContainerStatuses, 1)
	term := p.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	require.EqualValues(t, 3, term.ExitCode)

	logs, err := cs.CoreV1().Pods(ns).GetLogs("exit3", &corev1.PodLogOptions{}).DoRaw(context.Background())
	require.NoError(t, err)
	require.Equal(t, want+"\n", string(logs))

	deletePodsAndCheckEmpty(t, cs, ns, "exit3")
}

func TestHostPathSeesHostFile(t *testing.T) {
	if !cluster.Local() {
		t.Skip("the host's files are only at hand on the local cluster")
	}
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	dir := t.TempDir()
	want := token(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "marker"), []byte(want), 0o644))

	p := busyboxPod("hostpath", "test -e /host/marker && cat /host/marker")
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host", ReadOnly: true}}
	p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)

	p = waitPod(t, cs, ns, "hostpath", finished)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	require.EqualValues(t, 0, p.Status.ContainerStatuses[0].State.Terminated.ExitCode)
	logs, err := cs.CoreV1().Pods(ns).GetLogs("hostpath", &corev1.PodLogOptions{}).DoRaw(context.Background())
	require.NoError(t, err)
	require.Equal(t, want, string(logs))

	deletePodsAndCheckEmpty(t, cs, ns, "hostpath")
}

func TestMissingImageErrImagePull(t *testing.T) {
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	image := "preflight-e2e/no-such-image:" + token(t)
	p := busyboxPod("noimage", "true")
	p.Spec.Containers[0].Image = image
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)

	p = waitPod(t, cs, ns, "noimage", func(p *corev1.Pod) bool {
		for _, s := range p.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true
			}
		}
		return false
	})
	w := p.Status.ContainerStatuses[0].State.Waiting
	if w.Reason != "ErrImagePull" {
		// The watch saw only the back-off that follows; the kubelet's event names the error.
		evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "noimage").String()})
		require.NoError(t, err)
		var msgs []string
		for _, e := range evs.Items {
			msgs = append(msgs, e.Message)
		}
		require.Contains(t, strings.Join(msgs, "\n"), "ErrImagePull")
	} else {
		require.Contains(t, w.Message, "preflight-e2e/no-such-image")
	}
	require.Equal(t, corev1.PodPending, p.Status.Phase)

	deletePodsAndCheckEmpty(t, cs, ns, "noimage")
}

func TestKwokNodesCompleteWithAnnotatedExitCode(t *testing.T) {
	if !cluster.Local() {
		t.Skip("simulated nodes run with the local cluster only")
	}
	cs := client(t)
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{
		LabelSelector: testcluster.KwokNodeLabel + "=kwok"})
	require.NoError(t, err)
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
		require.Equal(t, "fake", n.Annotations[testcluster.KwokNodeAnnotation])
	}
	require.GreaterOrEqual(t, ready, smokeKwokNodes)

	ns := cluster.Namespace(t, nil)
	kwokPod := func(name, node string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				NodeSelector:  map[string]string{"kubernetes.io/hostname": node},
				Tolerations: []corev1.Toleration{{Key: testcluster.KwokNodeTaint, Operator: corev1.TolerationOpExists,
					Effect: corev1.TaintEffectNoSchedule}},
				Containers: []corev1.Container{{Name: "main", Image: testcluster.BusyboxImage, Command: []string{"true"}}},
			},
		}
	}
	node := testcluster.KwokNodeName(smokeKwokNodes - 1)
	_, err = cs.CoreV1().Pods(ns).Create(context.Background(), kwokPod("exit7", node, map[string]string{
		testcluster.ExitCodeAnnotation: "7", testcluster.MessageAnnotation: "seven"}), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods(ns).Create(context.Background(), kwokPod("exit0", testcluster.KwokNodeName(0), nil), metav1.CreateOptions{})
	require.NoError(t, err)

	p := waitPod(t, cs, ns, "exit7", finished)
	require.Equal(t, node, p.Spec.NodeName)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	term := p.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	require.EqualValues(t, 7, term.ExitCode)
	require.Equal(t, "seven", term.Message)

	p = waitPod(t, cs, ns, "exit0", finished)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	require.EqualValues(t, 0, p.Status.ContainerStatuses[0].State.Terminated.ExitCode)

	deletePodsAndCheckEmpty(t, cs, ns, "exit7", "exit0")
}

func TestPodSecurityEnforced(t *testing.T) {
	cs := client(t)
	ns := cluster.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
	p := busyboxPod("privileged", "true")
	priv := true
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &priv}
	_, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	require.Error(t, err)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.Contains(t, err.Error(), "violates PodSecurity")
}

func TestRestrictedIdentityIsBoundByRBAC(t *testing.T) {
	cs := client(t)
	ns := cluster.Namespace(t, nil)
	user := "e2e-user-" + token(t)
	cfg, err := cluster.UserConfig(context.Background(), user, []string{"e2e-group"})
	require.NoError(t, err)
	ucs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	_, err = ucs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "list pods before the binding: %v", err)

	_, err = cs.RbacV1().Roles(ns).Create(context.Background(), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// RBAC's authorizer sees the new binding through its informer: wait for that, by watching
	// what the identity may do.
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	for {
		_, err = ucs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil || !apierrors.IsForbidden(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	_, err = ucs.CoreV1().Pods(ns).Create(context.Background(), busyboxPod("x", "true"), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "create pods is not granted: %v", err)
}
