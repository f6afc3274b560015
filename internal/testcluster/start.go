package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// start builds (or finds) the binaries, stops whatever part of an old cluster is left, and
// starts every component afresh.
func start(ctx context.Context, opts Options, p paths) error {
	log := opts.Logger
	begin := time.Now()
	if err := installDeps(ctx, log); err != nil {
		return err
	}
	bin, err := ensureBinaries(ctx, log, opts.CacheDir)
	if err != nil {
		return err
	}
	if err := stop(ctx, log, p, false); err != nil {
		return fmt.Errorf("clean up the old cluster: %w", err)
	}
	_ = os.RemoveAll(p.logDir())
	for _, d := range []string{p.logDir(), p.runDir(), p.kubeconfigs(), p.join("etcd"), p.join("registry"),
		p.containerd(), p.join("containerd", "certs.d"), p.kubeletDir(), p.join("pod-logs"),
		p.join("cni", "net.d"), p.join("cni", "ipam"), p.join("kwok")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(p.binDirFile(), []byte(bin+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(p.fingerprintFile(), []byte(fingerprint(p, bin)+"\n"), 0o644); err != nil {
		return err
	}
	if err := writePKI(p); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := writeConfigs(p); err != nil {
		return err
	}
	if err := setupNetwork(ctx); err != nil {
		return err
	}
	b := func(name string) string { return filepath.Join(bin, name) }

	// Registry, and the images it serves.
	pid, err := daemon(p, log, compRegistry, []string{"OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true"}, b("registry"), "serve", p.join("registry", "config.yml"))
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "the registry", 30*time.Second, func(ctx context.Context) (bool, error) {
		if err := errIfDead(p, compRegistry, pid); err != nil {
			return false, err
		}
		code, err := httpGet(ctx, "http://"+registryAddr+"/v2/")
		return err == nil && code == http.StatusOK, err
	}); err != nil {
		return err
	}
	push := exec.CommandContext(ctx, b("pushimage"), "-registry", registryAddr, "-busybox", "/bin/busybox",
		"-pause", b("pause"), "-pause-tag", strings.TrimPrefix(PauseImage, "registry.k8s.io/pause:"))
	if out, err := push.CombinedOutput(); err != nil {
		return fmt.Errorf("push images: %w: %s", err, out)
	}

	// etcd.
	pid, err = daemon(p, log, compEtcd, nil, b("etcd"),
		"--name", "preflight", "--data-dir", p.join("etcd", "data"),
		"--listen-client-urls", "http://127.0.0.1:"+etcdPort,
		"--advertise-client-urls", "http://127.0.0.1:"+etcdPort,
		"--listen-peer-urls", "http://127.0.0.1:"+etcdPeerPort,
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+etcdPeerPort,
		"--initial-cluster", "preflight=http://127.0.0.1:"+etcdPeerPort,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "etcd", 60*time.Second, func(ctx context.Context) (bool, error) {
		if err := errIfDead(p, compEtcd, pid); err != nil {
			return false, err
		}
		code, err := httpGet(ctx, "http://127.0.0.1:"+etcdPort+"/health")
		return err == nil && code == http.StatusOK, err
	}); err != nil {
		return err
	}

	// kube-apiserver.
	pki := func(f string) string { return filepath.Join(p.pki(), f) }
	pid, err = daemon(p, log, compAPIServer, nil, b("kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:"+etcdPort,
		"--bind-address", hostIP, "--advertise-address", hostIP, "--secure-port", apiPort,
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--client-ca-file", pki("ca.crt"),
		"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key", pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-key-file", pki("sa.pub"),
		"--service-account-signing-key-file", pki("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range", serviceRange,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--cert-dir", p.join("pki", "apiserver-generated"),
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}
	c := &Cluster{Kubeconfig: p.adminKubeconfig(), paths: p, local: true, log: log}
	cs, err := c.Client()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-apiserver", 120*time.Second, func(ctx context.Context) (bool, error) {
		if err := errIfDead(p, compAPIServer, pid); err != nil {
			return false, err
		}
		err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		return err == nil, err
	}); err != nil {
		return err
	}

	// containerd, in the root network namespace (its socket is a file).
	pid, err = daemon(p, log, compContainerd, noEgress, "containerd", "--config", p.join("containerd", "config.toml"))
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "containerd", 60*time.Second, func(ctx context.Context) (bool, error) {
		if err := errIfDead(p, compContainerd, pid); err != nil {
			return false, err
		}
		return dialOK("unix", p.containerdSock()), nil
	}); err != nil {
		return err
	}

	// Controller manager and scheduler.
	kc := func(comp string) string { return filepath.Join(p.kubeconfigs(), comp+".kubeconfig") }
	cmPid, err := daemon(p, log, compCM, nil, b("kube-controller-manager"),
		"--kubeconfig", kc(compCM),
		"--service-account-private-key-file", pki("sa.key"),
		"--root-ca-file", pki("ca.crt"),
		"--cluster-signing-cert-file", pki("ca.crt"), "--cluster-signing-key-file", pki("ca.key"),
		"--use-service-account-credentials=false",
		"--controllers", "*,-nodeipam",
		"--leader-elect=false", "--secure-port", "0", "--v=1")
	if err != nil {
		return err
	}
	schedPid, err := daemon(p, log, compScheduler, nil, b("kube-scheduler"),
		"--kubeconfig", kc(compScheduler), "--leader-elect=false", "--secure-port", "0", "--v=1")
	if err != nil {
		return err
	}

	// The kubelet, inside the node's network namespace. nsenter, not `ip netns exec`, which
	// remounts /sys and hides the cgroup mounts.
	kubeletPid, err := daemon(p, log, compKubelet, nil, "nsenter", "--net=/var/run/netns/"+netnsName, "--",
		b("kubelet"),
		"--config", p.join("kubelet-config.yaml"),
		"--kubeconfig", kc("kubelet"),
		"--root-dir", p.kubeletDir(),
		"--cert-dir", p.join("kubelet", "pki"),
		"--hostname-override", RealNodeName,
		"--node-ip", nodeIP,
		"--v=1")
	if err != nil {
		return err
	}

	// kwok, for simulated nodes only.
	kwokPid, err := daemon(p, log, compKwok, nil, b("kwok"),
		"--kubeconfig", kc(compKwok),
		"--config", p.join("kwok", "kwok.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", KwokNodeAnnotation+"=fake",
		"--node-ip", "127.0.0.1",
		"--node-lease-duration-seconds", "40",
		"--cidr", "10.252.0.0/16")
	if err != nil {
		return err
	}

	if err := waitFor(ctx, "the node "+RealNodeName+" to be Ready", 120*time.Second, func(ctx context.Context) (bool, error) {
		for comp, pid := range map[string]int{compCM: cmPid, compScheduler: schedPid, compKubelet: kubeletPid, compKwok: kwokPid, compContainerd: pid} {
			if err := errIfDead(p, comp, pid); err != nil {
				return false, err
			}
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return nodeReady(n), nil
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, "the default service account", 60*time.Second, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	}); err != nil {
		return err
	}
	log.Info("cluster is up", "kubeconfig", c.Kubeconfig, "took", time.Since(begin).Round(100*time.Millisecond))
	return nil
}

// noEgress points every HTTP(S) request of a process that is not for loopback at a closed
// local port, so that a registry name the configuration misses fails at once instead of
// reaching out (Go never proxies loopback addresses).
var noEgress = []string{"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
	"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost"}

// installDeps runs install-deps.sh (a no-op when every package is installed).
func installDeps(ctx context.Context, log *slog.Logger) error {
	tools, err := toolsDir()
	if err != nil {
		return err
	}
	script := filepath.Join(filepath.Dir(tools), "install-deps.sh")
	out, err := exec.CommandContext(ctx, "bash", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", script, err, out)
	}
	if len(out) > 0 {
		log.Info("install-deps.sh", "output", strings.TrimSpace(string(out)))
	}
	return nil
}

// setupNetwork creates the node's network namespace and the veth pair that joins it to the
// root namespace: hostIP on the root side, nodeIP on the node side.
func setupNetwork(ctx context.Context) error {
	if err := teardownNetwork(ctx, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	steps := [][]string{
		{"netns", "add", netnsName},
		{"link", "add", hostVeth, "type", "veth", "peer", "name", nodeVeth},
		{"link", "set", nodeVeth, "netns", netnsName},
		{"addr", "add", hostIP + "/30", "dev", hostVeth},
		{"link", "set", hostVeth, "up"},
		{"-n", netnsName, "addr", "add", nodeIP + "/30", "dev", nodeVeth},
		{"-n", netnsName, "link", "set", nodeVeth, "up"},
		{"-n", netnsName, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// teardownNetwork removes the namespace, the veth pair and the pods' bridge, if present.
func teardownNetwork(ctx context.Context, log *slog.Logger) error {
	if _, err := os.Stat("/var/run/netns/" + netnsName); err == nil {
		if err := run(ctx, "ip", "netns", "delete", netnsName); err != nil {
			return err
		}
		log.Info("removed network namespace", "name", netnsName)
	}
	for _, l := range []string{hostVeth, cniBridge} {
		if _, err := net.InterfaceByName(l); err == nil {
			if err := run(ctx, "ip", "link", "delete", l); err != nil {
				return err
			}
			log.Info("removed link", "name", l)
		}
	}
	return nil
}
