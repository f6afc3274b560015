package cli

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags select the cluster, as kubectl's flags of the same names do.
type kubeFlags struct {
	kubeconfig string
	context    string
}

func (k *kubeFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use (default: the current context)")
}

// cluster is what loading the kubeconfig gave.
type cluster struct {
	config    *rest.Config // nil: no cluster
	namespace string       // the context's namespace, "" when none
	note      string       // why there is no cluster
}

// load loads the kubeconfig with client-go's default loading rules (--kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else the in-cluster service account). When nothing is
// configured, or the implicit configuration is unusable, it returns no cluster and a note:
// host-only specs must run anywhere, and cluster commands then fail closed with their own
// error. An explicit --kubeconfig or --context that cannot be used is a usage error.
func (k *kubeFlags) load() (cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if k.kubeconfig != "" || k.context != "" {
			return cluster{}, usageError("cannot use the cluster named by --kubeconfig/--context: %w", err)
		}
		if clientcmd.IsEmptyConfig(err) {
			return cluster{note: "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster)"}, nil
		}
		return cluster{note: fmt.Sprintf("the kubeconfig cannot be used: %v", err)}, nil
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		ns = ""
	}
	return cluster{config: cfg, namespace: ns}, nil
}
