package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Names and values that tests may rely on.
const (
	// KubernetesVersion is the version the cluster's apiserver reports.
	KubernetesVersion = "v1.36.3"
	// RealNodeName is the name of the cluster's one real node (kubelet, containerd, runc).
	RealNodeName = "preflight-node-0"
	// BusyboxImage is the busybox image, built from Debian's busybox-static: every applet,
	// including sh, test, sleep, cat, wget and nsenter, is on the PATH. The full reference
	// docker.io/library/busybox:latest is the same image.
	BusyboxImage = "busybox"
	// PauseImage is the pod sandbox image.
	PauseImage = "registry.k8s.io/pause:3.10"

	// KwokNodeAnnotation marks the nodes that kwok simulates; its value is "fake".
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// KwokNodeLabel is the label key of simulated nodes; its value is "kwok".
	KwokNodeLabel = "type"
	// KwokNodeTaint is the key of the NoSchedule taint (value "fake") of simulated nodes, so
	// that only pods that tolerate it land there.
	KwokNodeTaint = "kwok.x-k8s.io/node"
	// KwokNodePrefix prefixes the names of simulated nodes: kwok-node-0, kwok-node-1, ...
	KwokNodePrefix = "kwok-node-"
	// ExitCodeAnnotation on a pod that runs on a simulated node gives the exit code its
	// containers terminate with (an integer, "0" when absent): the pod ends Succeeded for 0,
	// Failed otherwise. Pods with restartPolicy Always keep running.
	ExitCodeAnnotation = "preflight.test/exit-code"
	// MessageAnnotation on a pod that runs on a simulated node becomes the termination
	// message of its containers (a stand-in for their output, which simulated nodes lack).
	MessageAnnotation = "preflight.test/message"
)

// Defaults of Options.
const (
	DefaultStateDir = "/var/lib/preflight-testcluster"
	DefaultCacheDir = "/var/cache/preflight-testcluster"
)

// Fixed addresses of the local cluster. The apiserver listens on the root side of the node's
// veth pair, which exists only while the cluster runs; the registry and etcd on loopback.
const (
	netnsName    = "preflight-tc"
	hostVeth     = "pftc0"
	nodeVeth     = "pftc1"
	hostIP       = "10.250.0.1"
	nodeIP       = "10.250.0.2"
	cniBridge    = "pfcni0"
	podSubnet    = "10.244.0.0/24"
	serviceRange = "10.0.0.0/24"
	apiPort      = "6443"
	etcdPort     = "23790"
	etcdPeerPort = "23800"
	registryAddr = "127.0.0.1:25000"
)

// Options configure Up, Down, Status and ForTestMain. The zero value works.
type Options struct {
	// KwokNodes is the number of simulated nodes Up ensures (EnsureKwokNodes); 0 adds none
	// and removes none.
	KwokNodes int
	// StateDir holds the running cluster: data, certificates, kubeconfigs, logs, pid files.
	// Default: $PREFLIGHT_TESTCLUSTER_STATE or DefaultStateDir.
	StateDir string
	// CacheDir holds the built binaries, keyed by the tools modules; it survives Down.
	// Default: $PREFLIGHT_TESTCLUSTER_CACHE or DefaultCacheDir.
	CacheDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.StateDir == "" {
		o.StateDir = envOr("PREFLIGHT_TESTCLUSTER_STATE", DefaultStateDir)
	}
	if o.CacheDir == "" {
		o.CacheDir = envOr("PREFLIGHT_TESTCLUSTER_CACHE", DefaultCacheDir)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Cluster is a running cluster: the local one that Up started or reused, or any other that
// Attach reached through a kubeconfig.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights.
	Kubeconfig string

	local bool
	paths paths
	log   *slog.Logger
}

// Local reports whether the cluster is the one this package runs on this machine (so that,
// for example, a hostPath volume of a pod on RealNodeName sees this machine's files).
func (c *Cluster) Local() bool { return c.local }

// RestConfig returns a new admin rest.Config for the cluster.
func (c *Cluster) RestConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("testcluster: kubeconfig %s: %w", c.Kubeconfig, err)
	}
	return cfg, nil
}

// Client returns a new admin clientset for the cluster.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	cfg, err := c.RestConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Attach returns the cluster that an admin kubeconfig reaches, after checking that its
// apiserver answers. When the kubeconfig is the local cluster's, the Cluster is local.
func Attach(ctx context.Context, kubeconfig string, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	p := newPaths(opts.StateDir)
	c := &Cluster{Kubeconfig: kubeconfig, paths: p, log: opts.Logger}
	if abs, err := filepath.Abs(kubeconfig); err == nil && abs == p.adminKubeconfig() {
		c.local = true
		// The apiserver's address exists only while the cluster runs; never send packets
		// for it down the default route.
		if !localReachable(p) {
			return nil, fmt.Errorf("testcluster: the local cluster of %s is not running (run: testcluster up)", kubeconfig)
		}
	}
	cs, err := c.Client()
	if err != nil {
		return nil, err
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("testcluster: cluster of %s does not answer: %w", kubeconfig, err)
	}
	_ = ctx
	return c, nil
}

// Up starts the local cluster, or reuses it when every component is already running and
// healthy, then brings its service network up to date (starting kube-proxy when it does not
// run, without restarting the cluster) and ensures opts.KwokNodes simulated nodes. A cluster
// whose other components run only in part is stopped and started afresh. The first Up on a machine builds the binaries (several
// minutes); later ones take seconds. Up needs root and the Debian packages of
// install-deps.sh, which it runs.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("testcluster: Up needs root")
	}
	p := newPaths(opts.StateDir)
	if err := os.MkdirAll(p.root, 0o755); err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	unlock, err := lock(ctx, p.lockFile())
	if err != nil {
		return nil, err
	}
	defer unlock()

	c := &Cluster{Kubeconfig: p.adminKubeconfig(), local: true, paths: p, log: opts.Logger}
	if healthy(ctx, p) && sameFingerprint(ctx, opts, p) {
		opts.Logger.Info("reusing the running cluster", "kubeconfig", c.Kubeconfig)
	} else {
		if err := start(ctx, opts, p); err != nil {
			return nil, fmt.Errorf("testcluster: up: %w (logs in %s)", err, p.logDir())
		}
	}
	if err := ensureServiceNetwork(ctx, opts.Logger, opts.CacheDir, p); err != nil {
		return nil, fmt.Errorf("testcluster: up: %w (logs in %s)", err, p.logDir())
	}
	if opts.KwokNodes > 0 {
		if err := c.EnsureKwokNodes(ctx, opts.KwokNodes); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Down stops the local cluster: every process it started, the pods' containers and shims,
// the mounts under the state directory, the network namespace and links. It removes the
// cluster's state but keeps its logs. It is a no-op when nothing runs.
func Down(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if os.Geteuid() != 0 {
		return errors.New("testcluster: Down needs root")
	}
	p := newPaths(opts.StateDir)
	if _, err := os.Stat(p.root); errors.Is(err, os.ErrNotExist) {
		return teardownNetwork(ctx, opts.Logger)
	}
	unlock, err := lock(ctx, p.lockFile())
	if err != nil {
		return err
	}
	defer unlock()
	return stop(ctx, opts.Logger, p, true)
}

// Report is what Status found.
type Report struct {
	// Running is true when every component (kube-proxy included) runs and the apiserver is ready.
	Running bool
	// Kubeconfig is the admin kubeconfig's path.
	Kubeconfig string
	// Components maps each component to its pid, 0 when it does not run.
	Components map[string]int
	// Version is the version the apiserver reports, empty when it does not answer.
	Version string
	// Nodes, ReadyNodes and KwokNodes count the cluster's nodes.
	Nodes, ReadyNodes, KwokNodes int
}

// Status reports on the local cluster without changing it.
func Status(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	p := newPaths(opts.StateDir)
	r := Report{Kubeconfig: p.adminKubeconfig(), Components: map[string]int{}}
	all := true
	for _, comp := range append(append([]string{}, components...), addons...) {
		pid := runningPid(p, comp)
		r.Components[comp] = pid
		if pid == 0 {
			all = false
		}
	}
	if _, err := os.Stat(r.Kubeconfig); err != nil || !localReachable(p) {
		return r, nil
	}
	c := &Cluster{Kubeconfig: r.Kubeconfig, paths: p, local: true, log: opts.Logger}
	cs, err := c.Client()
	if err != nil {
		return r, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if v, err := cs.Discovery().ServerVersion(); err == nil {
		r.Version = v.GitVersion
	}
	nodes, err := cs.CoreV1().Nodes().List(cctx, metav1.ListOptions{ResourceVersion: "0"})
	if err == nil {
		for i := range nodes.Items {
			n := &nodes.Items[i]
			r.Nodes++
			if nodeReady(n) {
				r.ReadyNodes++
			}
			if n.Annotations[KwokNodeAnnotation] == "fake" {
				r.KwokNodes++
			}
		}
	}
	r.Running = all && r.Version != ""
	return r, nil
}

// sameFingerprint reports whether the running cluster was started from the binaries and
// configuration this code would start it from. When the binaries cannot be located (no
// source tree at hand), it trusts the running cluster.
func sameFingerprint(ctx context.Context, opts Options, p paths) bool {
	b, err := os.ReadFile(p.fingerprintFile())
	if err != nil {
		return false
	}
	tools, err := toolsDir()
	if err != nil {
		return true
	}
	key, err := cacheKey(ctx, tools)
	if err != nil {
		return true
	}
	bin := filepath.Join(opts.CacheDir, "bin-"+key)
	if strings.TrimSpace(string(b)) != fingerprint(p, bin) {
		opts.Logger.Info("the running cluster was started by another version of the harness; restarting it")
		return false
	}
	return true
}

// localReachable reports whether the local apiserver runs and its address is on this machine.
func localReachable(p paths) bool {
	if runningPid(p, compAPIServer) == 0 {
		return false
	}
	return hasAddr(hostVeth, hostIP)
}

// hasAddr reports whether the link ifname exists and holds the IPv4 address ip.
func hasAddr(ifname, ip string) bool {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return false
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == ip {
			return true
		}
	}
	return false
}

// healthy reports whether every component runs and the apiserver, the real node and the
// registry answer.
func healthy(ctx context.Context, p paths) bool {
	for _, comp := range components {
		if runningPid(p, comp) == 0 {
			return false
		}
	}
	if !localReachable(p) {
		return false
	}
	c := &Cluster{Kubeconfig: p.adminKubeconfig(), paths: p}
	cs, err := c.Client()
	if err != nil {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(cctx).Error(); err != nil {
		return false
	}
	n, err := cs.CoreV1().Nodes().Get(cctx, RealNodeName, metav1.GetOptions{})
	if err != nil || !nodeReady(n) {
		return false
	}
	resp, err := httpGet(cctx, "http://"+registryAddr+"/v2/")
	return err == nil && resp == http.StatusOK
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func httpGet(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// lock takes an exclusive flock on path so that concurrent Up and Down calls (from several
// test binaries, say) take turns.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testcluster: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("testcluster: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("testcluster: waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitFor calls check every interval until it returns true, an error, or ctx or timeout ends.
func waitFor(ctx context.Context, what string, timeout time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func dialOK(network, addr string) bool {
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
