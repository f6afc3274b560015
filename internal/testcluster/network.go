package testcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The service network: what lets pods reach the apiserver through the `kubernetes` Service
// (in-cluster config) and the apiserver reach pod IPs (its services/proxy and pods/proxy).
//
//   - The pods' bridge gets the gateway address podGateway, so the root namespace (the
//     apiserver's) has a route to the pod subnet.
//   - The CNI network gives each new pod two routes besides its subnet, via podGateway: the
//     service range, and the veth pair's /30 (the kubelet probes pods from nodeIP, and the
//     apiserver is at hostIP). There is no default route: a pod reaches its subnet, Service IPs,
//     the node and the apiserver, and nothing else.
//   - kube-proxy (iptables mode, from the same Kubernetes build) runs in the root namespace
//     and turns Service IPs into endpoints: 10.0.0.1:443 into the apiserver at hostIP:6443
//     (a local address, so that packet is never forwarded), a Service of pods into pod IPs.
//   - IPv4 forwarding is enabled on the bridge and the node's veth only
//     (net.ipv4.conf.<if>.forwarding; the global net.ipv4.ip_forward is left alone), so only
//     packets that come from pods or the node can be routed, and the mangle chain guardChain
//     drops any routed packet that enters or leaves through another interface: a pod's packet
//     to a Service of pods is routed back onto the bridge, the kubelet's probe goes from its
//     namespace to the pod and back, nothing from a pod leaves the machine and nothing from
//     outside reaches a pod. NodePorts listen on hostIP only.
//   - A pod reaches the host itself only as the cluster needs: the mangle chain
//     inputGuardChain, jumped to from INPUT for packets from the bridge, lets through answers
//     to the host's own connections (the apiserver's proxy), Service traffic kube-proxy
//     translated (10.0.0.1:443 to the apiserver) and the apiserver's port, and drops anything
//     else a pod sends to the host's addresses (a service listening on all of them, say).
//
// Up applies all of it to a started or reused cluster (ensureServiceNetwork, idempotent), and
// it is not part of the running cluster's fingerprint: adding it, or changing it, never
// restarts a cluster that other tests use; a kube-proxy started for other inputs is restarted
// alone.

const (
	compKubeProxy = "kube-proxy"
	podGateway    = "10.244.0.1"
	vethSubnet    = "10.250.0.0/30" // hostIP and nodeIP
	// kubeProxyHealthz is kube-proxy's health endpoint, on loopback.
	kubeProxyHealthz = "127.0.0.1:10256"
	// guardComment marks the iptables rules of the service network, so teardown finds them.
	guardComment = "preflight-testcluster"
)

// addons are the components Up starts on a running cluster when they are missing, without
// restarting it; Status reports them with the others.
var addons = []string{compKubeProxy}

// guardChain is the mangle chain, jumped to from FORWARD, that keeps routing between the
// pods' bridge and the node's veth (the kubelet's probes of pods and their answers) and among
// pods: any routed packet that enters or leaves through another interface is dropped.
const guardChain = "PREFLIGHT-TC-FORWARD"

// guardRules are guardChain's rules, in order.
var guardRules = [][]string{
	{"-i", cniBridge, "-o", cniBridge, "-j", "RETURN"},
	{"-i", cniBridge, "-o", hostVeth, "-j", "RETURN"},
	{"-i", hostVeth, "-o", cniBridge, "-j", "RETURN"},
	{"-i", cniBridge, "-j", "DROP"},
	{"-o", cniBridge, "-j", "DROP"},
	{"-i", hostVeth, "-j", "DROP"},
	{"-o", hostVeth, "-j", "DROP"},
}

// guardJump is the FORWARD rule that sends every routed packet through guardChain.
var guardJump = []string{"-m", "comment", "--comment", guardComment, "-j", guardChain}

// inputGuardChain is the mangle chain, jumped to from INPUT for packets that come from the
// pods' bridge, that keeps pods from the host's own services (see the package comment).
const inputGuardChain = "PREFLIGHT-TC-INPUT"

// inputGuardRules are inputGuardChain's rules, in order.
var inputGuardRules = [][]string{
	{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
	{"-m", "conntrack", "--ctstate", "DNAT", "-j", "RETURN"},
	{"-d", hostIP, "-p", "tcp", "--dport", apiPort, "-j", "RETURN"},
	{"-j", "DROP"},
}

// inputGuardJump is the INPUT rule that sends the bridge's packets through inputGuardChain.
var inputGuardJump = []string{"-i", cniBridge, "-m", "comment", "--comment", guardComment, "-j", inputGuardChain}

func (p paths) kubeProxyConfig() string { return p.join("kube-proxy", "config.yaml") }
func (p paths) kubeProxyKubeconfig() string {
	return p.join("kubeconfigs", compKubeProxy+".kubeconfig")
}
func (p paths) kubeProxyStamp() string   { return p.join("run", compKubeProxy+".stamp") }
func (p paths) kubeProxyBinFile() string { return p.join("run", compKubeProxy+".bin") }
func (p paths) cniConfFile() string      { return p.join("cni", "net.d", "10-preflight.conflist") }

// ensureServiceNetwork brings the service network of a running cluster up to date: the
// bridge's gateway address and forwarding, the guard rules, the routed CNI network for new
// pods, and kube-proxy, which it (re)starts when it does not run, or runs for other inputs
// (binary, configuration, the cluster's fingerprint), and waits until it is healthy.
func ensureServiceNetwork(ctx context.Context, log *slog.Logger, cacheDir string, p paths) error {
	bin, err := ensureKubeProxyBinary(ctx, log, cacheDir)
	if err != nil {
		return err
	}
	// The guards first: forwarding is never on without them.
	if err := ensureGuards(ctx); err != nil {
		return fmt.Errorf("service network: %w", err)
	}
	if err := ensureBridge(ctx); err != nil {
		return fmt.Errorf("service network: %w", err)
	}
	if err := writeIfChanged(p.cniConfFile(), cniConfig(p, true), 0o644); err != nil {
		return err
	}
	if !fileExists(p.kubeProxyKubeconfig()) {
		c, err := loadCA(p.pki())
		if err != nil {
			return fmt.Errorf("kube-proxy: cluster CA: %w", err)
		}
		// system:kube-proxy is bound to the bootstrap ClusterRole system:node-proxier.
		server := "https://" + net.JoinHostPort(hostIP, apiPort)
		if err := c.clientKubeconfig(p.kubeProxyKubeconfig(), server, "system:kube-proxy", nil); err != nil {
			return err
		}
	}
	if err := writeIfChanged(p.kubeProxyConfig(), kubeProxyConfig(p), 0o644); err != nil {
		return err
	}
	fp, _ := os.ReadFile(p.fingerprintFile())
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s", bin, strings.TrimSpace(string(fp)), kubeProxyConfig(p))
	stamp := hex.EncodeToString(h.Sum(nil))
	pid := runningPid(p, compKubeProxy)
	if old, _ := os.ReadFile(p.kubeProxyStamp()); pid != 0 && strings.TrimSpace(string(old)) != stamp {
		log.Info("kube-proxy runs for other inputs; restarting it alone", "pid", pid)
		terminate(ctx, pid, 10*time.Second)
		pid = 0
	}
	if pid == 0 {
		if err := os.WriteFile(p.kubeProxyBinFile(), []byte(bin+"\n"), 0o644); err != nil {
			return err
		}
		if pid, err = daemon(p, log, compKubeProxy, nil, bin, "--config", p.kubeProxyConfig(), "--v=1"); err != nil {
			return err
		}
		if err := os.WriteFile(p.kubeProxyStamp(), []byte(stamp+"\n"), 0o644); err != nil {
			return err
		}
	}
	return waitFor(ctx, "kube-proxy to be healthy", 60*time.Second, func(ctx context.Context) (bool, error) {
		if err := errIfDead(p, compKubeProxy, pid); err != nil {
			return false, err
		}
		code, err := httpGet(ctx, "http://"+kubeProxyHealthz+"/healthz")
		return err == nil && code == http.StatusOK, err
	})
}

// ensureBridge creates the pods' bridge when no pod has yet (the CNI plugin adopts it), gives
// it the gateway address, enables forwarding on it and on the node's veth alone, and routes
// the node's namespace to the pods through the root namespace.
func ensureBridge(ctx context.Context) error {
	if _, err := net.InterfaceByName(cniBridge); err != nil {
		if err := run(ctx, "ip", "link", "add", cniBridge, "type", "bridge"); err != nil {
			return err
		}
	}
	if !hasAddr(cniBridge, podGateway) {
		if err := run(ctx, "ip", "addr", "add", podGateway+"/24", "dev", cniBridge); err != nil {
			return err
		}
	}
	if err := run(ctx, "ip", "link", "set", cniBridge, "up"); err != nil {
		return err
	}
	for _, ifc := range []string{cniBridge, hostVeth} {
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+ifc+"/forwarding", []byte("1\n"), 0o644); err != nil {
			return err
		}
	}
	// The kubelet probes pods from the node's namespace.
	return run(ctx, "ip", "-n", netnsName, "route", "replace", podSubnet, "via", hostIP)
}

// teardownServiceNetwork removes kube-proxy's rules (kube-proxy --cleanup, when its binary is
// known) and the guard rules. The bridge goes with teardownNetwork.
func teardownServiceNetwork(ctx context.Context, log *slog.Logger, p paths) {
	if b, err := os.ReadFile(p.kubeProxyBinFile()); err == nil {
		if err := run(ctx, strings.TrimSpace(string(b)), "--cleanup"); err != nil {
			log.Warn("kube-proxy --cleanup", "err", err)
		} else {
			log.Info("removed kube-proxy's rules")
		}
	}
	ipt := func(args ...string) error { return run(ctx, "iptables", append([]string{"-t", "mangle"}, args...)...) }
	for ipt(append([]string{"-D", "FORWARD"}, guardJump...)...) == nil { // every copy
	}
	for ipt(append([]string{"-D", "INPUT"}, inputGuardJump...)...) == nil {
	}
	for _, c := range []string{guardChain, inputGuardChain} {
		_ = ipt("-F", c)
		_ = ipt("-X", c)
	}
}

// ensureGuards makes guardChain hold exactly guardRules with FORWARD jumping to it first, and
// inputGuardChain hold exactly inputGuardRules with INPUT jumping to it first.
func ensureGuards(ctx context.Context) error {
	if err := ensureGuard(ctx, "FORWARD", guardChain, guardRules, guardJump); err != nil {
		return err
	}
	return ensureGuard(ctx, "INPUT", inputGuardChain, inputGuardRules, inputGuardJump)
}

// ensureGuard makes the mangle chain hold exactly rules (compared with what iptables lists,
// so a stale extra rule is found too) and the built-in chain hook jump to it first.
func ensureGuard(ctx context.Context, hook, chain string, rules [][]string, jump []string) error {
	ipt := func(args ...string) error { return run(ctx, "iptables", append([]string{"-t", "mangle"}, args...)...) }
	if ipt("-S", chain) != nil {
		if err := ipt("-N", chain); err != nil {
			return err
		}
	}
	intact := true
	for _, r := range rules {
		if ipt(append([]string{"-C", chain}, r...)...) != nil {
			intact = false
		}
	}
	if n, err := ruleCount(ctx, chain); err != nil || n != len(rules) {
		intact = false
	}
	if !intact {
		if err := ipt("-F", chain); err != nil {
			return err
		}
		for _, r := range rules {
			if err := ipt(append([]string{"-A", chain}, r...)...); err != nil {
				return err
			}
		}
	}
	if ipt(append([]string{"-C", hook}, jump...)...) == nil {
		return nil
	}
	return ipt(append([]string{"-I", hook}, jump...)...)
}

// ruleCount returns how many rules the mangle chain holds.
func ruleCount(ctx context.Context, chain string) (int, error) {
	out, err := exec.CommandContext(ctx, "iptables", "-t", "mangle", "-S", chain).Output()
	if err != nil {
		return 0, fmt.Errorf("iptables -t mangle -S %s: %w", chain, err)
	}
	return strings.Count(string(out), "\n-A "), nil
}

// kubeProxyConfig is kube-proxy's configuration: iptables mode for the real node, NodePorts on
// hostIP only (never on the machine's other addresses, nor on loopback), health and metrics on
// loopback, and the host's conntrack settings left alone.
func kubeProxyConfig(p paths) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
healthzBindAddress: %s
metricsBindAddress: 127.0.0.1:10249
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, p.kubeProxyKubeconfig(), RealNodeName, podSubnet, hostIP, kubeProxyHealthz)
}

// ensureKubeProxyBinary returns kube-proxy's path in the cache, building it when absent. It
// has its own module (tools/kubeproxy) and cache key, so that the other binaries' key, and
// with it the running cluster's fingerprint, do not depend on it.
func ensureKubeProxyBinary(ctx context.Context, log *slog.Logger, cacheDir string) (string, error) {
	tools, err := toolsDir()
	if err != nil {
		return "", err
	}
	dir, err := ensureBuilt(ctx, log, cacheDir, filepath.Join(tools, kubeProxyModule), "kube-proxy-", []string{compKubeProxy})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, compKubeProxy), nil
}

// kubeProxyModule is kube-proxy's tools module, under the tools directory.
const kubeProxyModule = "kubeproxy"

func writeIfChanged(path, content string, mode os.FileMode) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
