package runner

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/podrun"
)

// CleanupOptions select the pods Cleanup removes. The zero value selects every pod the
// library created, in every namespace. Fields: Namespace ("" means all), RunID (the run_id of
// a decision; "" means every run), OlderThan (0 means any age), Expired (only pods past their
// run's deadline, the preflight.dev/deadline annotation: command timeout + 5s, or 1h; safe
// while other runs are in progress, and it catches Pending pods, which activeDeadlineSeconds
// never ends) and Now (the current time; zero means time.Now()).
type CleanupOptions = podrun.CleanupOptions

// Cleanup deletes the pods a run (or a crashed run) left behind, found by the labels the
// library puts on every pod it creates (app.kubernetes.io/managed-by=preflight, and
// preflight.dev/run-id for one run). A run deletes its own pods before it returns, even when
// interrupted; Cleanup is for a process that was killed. It returns the names
// (namespace/name) it deleted, sorted, also when some deletions failed (the error joins
// them). Pods are deleted with a grace period of one second. cfg is not mutated.
func Cleanup(ctx context.Context, cfg *rest.Config, opts CleanupOptions) ([]string, error) {
	if cfg == nil {
		return nil, fmt.Errorf("cleanup needs a cluster, but %w", command.ErrNoCluster)
	}
	cs, err := kubernetes.NewForConfig(podrun.RunConfig(cfg, podrun.Options{}))
	if err != nil {
		return nil, fmt.Errorf("cluster client: %w", err)
	}
	return podrun.Cleanup(ctx, cs, opts)
}
