// Package clusterinfo reads the cluster facts CEL sees as `cluster`.
package clusterinfo

import (
	"context"
	"errors"

	"k8s.io/client-go/rest"
)

// Fetch returns the `cluster` variable: {"version": "1.36.3", "nodes": [{"name", "labels",
// "ready", "taints", "capacity", "allocatable"}]}. cfg is not mutated.
// Placeholder until the implementation lands (owner: kubernetes command).
func Fetch(ctx context.Context, cfg *rest.Config) (map[string]any, error) {
	return nil, errors.New("not implemented")
}
