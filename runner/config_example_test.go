package runner_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/preflightkit/preflight/runner"
)

// Build Options.Config the way kubectl and Helm do, with client-go's clientcmd: a kubeconfig
// file and one of its contexts (with the context's namespace), the default loading rules
// ($KUBECONFIG, then ~/.kube/config), or the in-cluster service account of an installer that
// runs as a pod. Nothing here talks to the cluster.
func ExampleOptions_config() {
	// A kubeconfig with two contexts, as an installer would be handed one.
	dir, err := os.MkdirTemp("", "kubeconfig")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config")
	const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://prod.example.com:6443"}
- name: staging
  cluster: {server: "https://staging.example.com:6443"}
users:
- name: installer
  user: {token: "not-a-real-token"}
contexts:
- name: prod
  context: {cluster: prod, user: installer, namespace: vendor-app}
- name: staging
  context: {cluster: staging, user: installer}
current-context: staging
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		panic(err)
	}

	// A kubeconfig path and a context (--kubeconfig and --context). An empty ExplicitPath
	// takes $KUBECONFIG, then ~/.kube/config: clientcmd.NewDefaultClientConfigLoadingRules().
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: "prod"}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		panic(err)
	}
	ns, _, err := cc.Namespace() // the context's namespace, else "default"
	if err != nil {
		panic(err)
	}
	opts := runner.Options{Config: cfg, Namespace: ns}
	fmt.Println(opts.Config.Host, opts.Namespace)

	// In a pod: the service account's token and the cluster's CA, mounted by Kubernetes
	// (the default loading rules fall back to it too when no kubeconfig is found).
	inCluster, err := rest.InClusterConfig()
	switch {
	case errors.Is(err, rest.ErrNotInCluster):
		// Not in a pod: keep the kubeconfig's.
	case err != nil:
		panic(err)
	default:
		opts.Config = inCluster // the pod's namespace is in /var/run/secrets/kubernetes.io/serviceaccount/namespace
	}
	// Output:
	// https://prod.example.com:6443 vendor-app
}
