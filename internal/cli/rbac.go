package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/runner"
)

// rbacLabels are the labels of every object preflight rbac prints.
var rbacLabels = map[string]string{"app.kubernetes.io/managed-by": "preflight"}

func (a *app) rbacCommand() *cobra.Command {
	var (
		namespace, account string
		kube               kubeFlags
	)
	cmd := &cobra.Command{
		Use:   "rbac SPEC... [flags]",
		Short: "Print the least-privilege RBAC a spec's run needs",
		Long: `Rbac prints, as multi-document YAML for kubectl apply -f - or a chart's templates, a
ServiceAccount in the run's namespace and exactly the rules the spec's requirements need:
a Role and RoleBinding (named after the ServiceAccount) in each namespace the run touches,
and a ClusterRole and ClusterRoleBinding (named SERVICEACCOUNT-NAMESPACE) for cluster-scoped
rules. Kinds of kubernetes and dry_run commands are mapped through the cluster's discovery
(the kubeconfig), as run maps them. A command whose data comes from K_expr keys is refused:
what it calls is known only when it runs.`,
		Example: `  preflight rbac gate.yaml -n myapp --service-account myapp-gate | kubectl apply -f -`,
		Args:    minArgs(1, "SPEC (a spec file, or - for stdin)"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			if msgs := validation.IsDNS1123Subdomain(account); len(msgs) > 0 {
				return usageError("--service-account %q is not a valid ServiceAccount name: %s", account, msgs[0])
			}
			spec, err := a.loadSpec(args)
			if err != nil {
				return err
			}
			cl, err := kube.load()
			if err != nil {
				return err
			}
			if namespace == "" {
				namespace = cl.namespace
			}
			if namespace == "" {
				namespace = metav1.NamespaceDefault
			}
			rules, err := runner.Permissions(a.ctx, spec, runner.Options{Namespace: namespace, Config: cl.config})
			if err != nil {
				if errors.Is(err, runner.ErrRuntimeData) {
					return usageError("%w", err)
				}
				if cl.config == nil {
					return usageError("%w (%s)", err, safeText(cl.note, false))
				}
				return err
			}
			out, err := rbacYAML(rules, namespace, account)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "", "the run's namespace, where the ServiceAccount lives (default: the context's namespace, else default)")
	f.StringVar(&account, "service-account", "preflight", "name of the ServiceAccount the run uses")
	kube.bind(f)
	return cmd
}

// rbacYAML renders the ServiceAccount, then per namespace (sorted) a Role and RoleBinding,
// then the ClusterRole and ClusterRoleBinding when there are cluster rules.
func rbacYAML(rules *runner.PermissionRules, namespace, account string) ([]byte, error) {
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: rbacLabels}
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: namespace}}
	objs := []any{&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(account, namespace)}}
	var spaces []string
	for ns := range rules.Namespaces {
		spaces = append(spaces, ns)
	}
	slices.Sort(spaces)
	for _, ns := range spaces {
		objs = append(objs,
			&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta(account, ns), Rules: rules.Namespaces[ns]},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: meta(account, ns),
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: account}, Subjects: subject})
	}
	if len(rules.Cluster) > 0 {
		name := account + "-" + namespace
		objs = append(objs,
			&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: meta(name, ""), Rules: rules.Cluster},
			&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}, ObjectMeta: meta(name, ""),
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: subject})
	}
	var buf bytes.Buffer
	for i, o := range objs {
		// Through a map, so that the empty creationTimestamp the types carry is left out.
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}
