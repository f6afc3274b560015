package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrUnavailable is returned by Setup when no cluster was named and the local one cannot be
// started (not root).
var ErrUnavailable = errors.New("testcluster: no cluster available")

// Setup gets the cluster for end-to-end tests. When PREFLIGHT_E2E_KUBECONFIG or KUBECONFIG
// names a kubeconfig, it attaches to that cluster (any cluster: kind, a cloud one, or the
// local one started by hand) and changes nothing in it; when it names the local cluster's
// admin kubeconfig and runs as root, Setup is Up (which reuses, or restarts, that cluster). Otherwise it starts or reuses the
// local cluster with Up, which needs root: without root it returns ErrUnavailable. Simulated
// nodes (opts.KwokNodes) are ensured on the local cluster only.
func Setup(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	kc := os.Getenv("PREFLIGHT_E2E_KUBECONFIG")
	if kc == "" {
		kc, _, _ = strings.Cut(os.Getenv("KUBECONFIG"), string(filepath.ListSeparator))
	}
	if abs, err := filepath.Abs(kc); kc != "" && err == nil && abs == newPaths(opts.StateDir).adminKubeconfig() && os.Geteuid() == 0 {
		// The local cluster's own kubeconfig: start it again if it was stopped.
		return Up(ctx, opts)
	}
	if kc != "" {
		c, err := Attach(ctx, kc, opts)
		if err != nil {
			return nil, err
		}
		if c.local && opts.KwokNodes > 0 {
			if err := c.EnsureKwokNodes(ctx, opts.KwokNodes); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: set KUBECONFIG to a cluster, or run as root to start the local one", ErrUnavailable)
	}
	return Up(ctx, opts)
}

// ForTestMain is Setup for a TestMain: it logs progress to stderr and returns the cluster.
// When no cluster is available it prints why and exits 0, skipping the package's tests,
// unless PREFLIGHT_E2E_REQUIRED is set (test.sh sets it), when it exits 1; any other
// error exits 1. Typical use:
//
//	var cluster *testcluster.Cluster
//
//	func TestMain(m *testing.M) {
//		cluster = testcluster.ForTestMain(testcluster.Options{KwokNodes: 100})
//		os.Exit(m.Run())
//	}
func ForTestMain(opts Options) *Cluster {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := Setup(ctx, opts)
	switch {
	case errors.Is(err, ErrUnavailable) && os.Getenv("PREFLIGHT_E2E_REQUIRED") == "":
		fmt.Fprintf(os.Stderr, "SKIP: end-to-end tests: %v\n", err)
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "end-to-end tests: %v\n", err)
		os.Exit(1)
	}
	return c
}

// UserKubeconfig writes a kubeconfig for a restricted identity, user name in groups, and
// returns its path. On the local cluster the identity is a client certificate signed by the
// cluster's CA, so the apiserver authenticates it like any user; on another cluster it is
// the admin's credentials impersonating name and groups. Either way RBAC decides what it may
// do: the identity starts with the rights of system:authenticated only, and tests grant more
// with Roles and RoleBindings.
func (c *Cluster) UserKubeconfig(ctx context.Context, name string, groups []string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return "", fmt.Errorf("testcluster: bad user name %q", name)
	}
	admin, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("testcluster: %w", err)
	}
	if c.local {
		ca, err := loadCA(c.paths.pki())
		if err != nil {
			return "", fmt.Errorf("testcluster: cluster CA: %w", err)
		}
		cur := admin.Contexts[admin.CurrentContext]
		if cur == nil || admin.Clusters[cur.Cluster] == nil {
			return "", fmt.Errorf("testcluster: %s has no current cluster", c.Kubeconfig)
		}
		path := filepath.Join(c.paths.root, "users", name+".kubeconfig")
		if err := ca.clientKubeconfig(path, admin.Clusters[cur.Cluster].Server, name, groups); err != nil {
			return "", fmt.Errorf("testcluster: %w", err)
		}
		return path, nil
	}
	for _, ai := range admin.AuthInfos {
		ai.Impersonate = name
		ai.ImpersonateGroups = groups
	}
	dir := filepath.Join(os.TempDir(), "preflight-testcluster-users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*admin, path); err != nil {
		return "", fmt.Errorf("testcluster: %w", err)
	}
	_ = ctx
	return path, nil
}

// UserConfig returns a rest.Config for a restricted identity; see UserKubeconfig.
func (c *Cluster) UserConfig(ctx context.Context, name string, groups []string) (*rest.Config, error) {
	path, err := c.UserKubeconfig(ctx, name, groups)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	return cfg, nil
}

// Namespace creates a fresh namespace for t (named e2e-<random>, with the given labels, such
// as pod-security.kubernetes.io/enforce), waits until its default ServiceAccount exists (pods
// are refused before), and deletes it when t ends, waiting until it is gone.
func (c *Cluster) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	cs, err := c.Client()
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "e2e-", Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testcluster: create namespace: %v", err)
	}
	t.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !isNotFound(err) {
			t.Errorf("testcluster: delete namespace %s: %v", ns.Name, err)
			return
		}
		err = waitFor(ctx, "namespace "+ns.Name+" to be deleted", 3*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			return isNotFound(err), nil
		})
		if err != nil {
			t.Errorf("testcluster: %v", err)
		}
	})
	err = waitFor(ctx, "the default service account of "+ns.Name, 2*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return ns.Name
}
