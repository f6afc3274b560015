package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// clusterInfoCommand hands a requirement the cluster facts: command id "cluster_info". It
// takes no data; its output (CEL's `output`) is the same object CEL sees as `cluster`, read by
// the same fetch (Env.ClusterFacts: once per run, shared with every expression that reads
// `cluster`), and its status code is 0. A requirement whose logic is all in the cluster
// facts needs no do-nothing command to carry its results.
type clusterInfoCommand struct{}

// clusterInfoData is cluster_info's data: none.
type clusterInfoData struct{}

// DataType returns the type of cluster_info's data (no keys).
func (clusterInfoCommand) DataType() reflect.Type { return reflect.TypeOf(clusterInfoData{}) }

// UsesCluster reports that the command reads the cluster (see DataDescriber).
func (clusterInfoCommand) UsesCluster() bool { return true }

// Prepare accepts no data, an empty object or null.
func (clusterInfoCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	switch d := bytes.TrimSpace(data); {
	case len(d) == 0, bytes.Equal(d, []byte("null")):
	default:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(d, &m); err != nil || len(m) > 0 {
			return nil, invalid(dataRoot, "cluster_info takes no data: remove data (output is the cluster facts)")
		}
	}
	return clusterInfoPrepared{}, nil
}

// clusterInfoPrepared is a validated cluster_info.
type clusterInfoPrepared struct{}

// UsesCluster reports that the command needs a cluster (see Prepared).
func (clusterInfoPrepared) UsesCluster() bool { return true }

// errNoClusterFacts is cluster_info's error when its caller gives it no way to read the facts.
var errNoClusterFacts = errors.New("cluster_info: the caller gives no cluster facts (Env.ClusterFacts is nil)")

// Run returns the cluster facts as the output's Object (CEL's `output`) and their JSON as
// stdout (cut at the output limit, and marked), status code 0. Facts that cannot be read (no
// cluster, a denial, too many nodes) are the command's error.
func (clusterInfoPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.ClusterFacts == nil {
		return nil, errNoClusterFacts
	}
	start := time.Now()
	facts, err := env.ClusterFacts(ctx)
	if err != nil {
		return nil, err
	}
	if facts == nil {
		facts = map[string]any{}
	}
	out := Output{Object: facts}
	out.Stdout, out.Truncated, err = kubeJSON(facts, env.Limit())
	if err != nil {
		return nil, fmt.Errorf("cluster_info: %w", err)
	}
	out.Duration = time.Since(start)
	return &Result{Outputs: []Output{out}}, nil
}
