package command

// Placeholder until the scheduler command lands (owner: scheduler). Delete this file.

import (
	"context"
	"time"

	"k8s.io/client-go/rest"

	"encoding/json"
	"errors"
)

type schedulerCommand struct{}

func (schedulerCommand) Prepare(json.RawMessage, SpecContext) (Prepared, error) {
	return nil, errors.New("not implemented")
}

// CleanupOptions select the pods Cleanup removes. The zero value removes every pod this
// library created, in every namespace.
type CleanupOptions struct {
	Namespace string        // "" means all namespaces
	RunID     string        // "" means every run
	OlderThan time.Duration // only pods older than this; 0 means any age
}

// Cleanup deletes the pods a run (or a crashed run) left behind, found by the labels the
// library puts on every pod it creates. It returns the names (namespace/name) it deleted.
// cfg is not mutated.
func Cleanup(ctx context.Context, cfg *rest.Config, opts CleanupOptions) ([]string, error) {
	return nil, errors.New("not implemented")
}
