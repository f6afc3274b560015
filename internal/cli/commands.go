package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/preflightkit/preflight/runner"
)

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate SPEC...",
		Short: "Load and check a spec without running anything",
		Long: `Validate loads the spec files (- reads stdin) as run would: strict decoding, the schema,
every CEL expression compiled and every command's data checked. It prints a one-line
summary on stdout, or every problem (file:line:col: path: message) on stderr and exits 2.`,
		Example: `  preflight validate examples/*.yaml`,
		Args:    minArgs(1, "SPEC (a spec file, or - for stdin)"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			spec, err := a.loadSpec(args)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "spec is valid: %s (%s)\n",
				plural(len(spec.Requirements), "requirement", "requirements"),
				plural(len(spec.Pods), "pod template", "pod templates"))
			return nil
		}),
	}
}

// versionInfo is the JSON shape of preflight version -o json.
type versionInfo struct {
	// Version is the module version of the binary, "(devel)" for a build from a checkout.
	Version string `json:"version"`
	// Revision and Modified come from the VCS stamp of the build, when there is one.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (a *app) versionCommand() *cobra.Command {
	out := outputText
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of preflight",
		Args:  noArgs,
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			v := buildVersion()
			if out == outputJSON {
				return writeJSON(a.stdout, v)
			}
			fmt.Fprintf(a.stdout, "preflight %s\n", v.Version)
			if v.Revision != "" {
				mod := ""
				if v.Modified {
					mod = " (modified)"
				}
				fmt.Fprintf(a.stdout, "revision: %s%s\n", v.Revision, mod)
			}
			fmt.Fprintf(a.stdout, "go: %s\n", v.GoVersion)
			return nil
		}),
	}
	cmd.Flags().VarP(&out, "output", "o", "output format: text or json")
	return cmd
}

func (a *app) cleanupCommand() *cobra.Command {
	var (
		opts          runner.CleanupOptions
		allNamespaces bool
		kube          kubeFlags
	)
	cmd := &cobra.Command{
		Use:   "cleanup [flags]",
		Short: "Delete the pods a crashed or killed run left in the cluster",
		Long: `Cleanup deletes the pods preflight created, found by the labels it puts on every pod, in
the context's namespace (or --namespace, or every namespace with -A). --run-id limits it
to one run (the run_id of run -o json); --older-than to pods older than a duration; --expired to pods past
their run's deadline (Pending ones included). --expired and --older-than make it safe to
run while other runs are in progress. It prints what it deleted.`,
		Example: `  preflight cleanup -A --expired
  preflight cleanup -A --older-than 1h
  preflight cleanup -n myapp --run-id 7f3c2a`,
		Args: noArgs,
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			if allNamespaces && opts.Namespace != "" {
				return usageError("--namespace and --all-namespaces cannot be used together")
			}
			if opts.OlderThan < 0 {
				return usageError("--older-than must not be negative")
			}
			cl, err := kube.load()
			if err != nil {
				return err
			}
			if cl.config == nil {
				return usageError("cleanup needs a cluster: %s", cl.note)
			}
			if !allNamespaces && opts.Namespace == "" {
				opts.Namespace = cl.namespace
				if opts.Namespace == "" {
					opts.Namespace = metav1.NamespaceDefault
				}
			}
			deleted, err := runner.Cleanup(a.ctx, cl.config, opts)
			for _, name := range deleted {
				fmt.Fprintf(a.stdout, "deleted pod %s\n", safeText(name, false))
			}
			if err != nil {
				return withCode(ExitError, fmt.Errorf("cleanup: %w", err))
			}
			if len(deleted) == 0 {
				where := "namespace " + opts.Namespace
				if opts.Namespace == "" {
					where = "any namespace"
				}
				fmt.Fprintf(a.stdout, "no leftover preflight pods in %s\n", where)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace to clean (default: the context's namespace, else default)")
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "clean every namespace")
	f.StringVar(&opts.RunID, "run-id", "", "only the pods of this run (the run_id of run -o json)")
	f.DurationVar(&opts.OlderThan, "older-than", 0, "only pods older than this, e.g. 1h (0 means any age)")
	f.BoolVar(&opts.Expired, "expired", false, "only pods past their run's deadline (command timeout + 5s), Pending ones included")
	kube.bind(f)
	return cmd
}
