package command

import (
	"bytes"
	"encoding/json"
	"reflect"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// classicPlacement holds the classic format's keys of a host command's data that say where it
// runs: cluster (false, or absent: on this host), tags and conflicts (on the cluster's nodes
// that have, or do not have, those tags). Running on the cluster's nodes needs a node runner
// preflight does not have yet, so anything but this host is refused with the replacement.
type classicPlacement struct {
	Cluster   *bool    `json:"cluster,omitempty" expr:"-"`
	Tags      []string `json:"tags,omitempty" expr:"-"`
	Conflicts []string `json:"conflicts,omitempty" expr:"-"`
}

// check refuses what asks for the cluster's nodes.
func (c classicPlacement) check() field.ErrorList {
	var errs field.ErrorList
	if c.Cluster != nil && *c.Cluster {
		errs = append(errs, invalid(dataRoot.Child("cluster"),
			"not supported yet: cluster: true runs the check on every node of the cluster; use a scheduler command with node_selector (or global: true) to run a pod on the nodes, or cluster: false to run it on this host"))
	}
	if len(c.Tags) > 0 {
		errs = append(errs, invalid(dataRoot.Child("tags"),
			"not supported yet: tags choose the nodes that run the check; use a scheduler command with node_selector on the nodes' labels"))
	}
	if len(c.Conflicts) > 0 {
		errs = append(errs, invalid(dataRoot.Child("conflicts"),
			"not supported yet: conflicts exclude nodes by their tags; use a scheduler command with node_selector, and a node affinity with the NotIn operator in the pod for the labels to avoid"))
	}
	return errs
}

// rawCommand is the classic format's `raw`: its cmd (the legacy string holding a JSON array,
// or an argv array) runs on this host, as exec runs it. The classic ran it in Replicated's
// command container; a check that needs an image is a scheduler command.
type rawCommand struct{}

// rawData is the data of raw.
type rawData struct {
	Cmd json.RawMessage `json:"cmd" expr:"list(string)|string"`
	classicPlacement
}

// DataType returns the type of raw's data.
func (rawCommand) DataType() reflect.Type { return reflect.TypeOf(rawData{}) }

// Prepare validates data.cmd and the placement keys.
func (rawCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d rawData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	errs := d.check()
	p := &execPrepared{inherit: true}
	if len(bytes.TrimSpace(d.Cmd)) == 0 || bytes.Equal(bytes.TrimSpace(d.Cmd), []byte("null")) {
		errs = append(errs, invalid(dataRoot.Child("cmd"), `required: give the argv as the classic string '["test", "-e", "/etc/x"]' or as an array`))
	} else {
		argv, argvErrs := parseArgv(d.Cmd)
		errs = append(errs, argvErrs...)
		p.argv = argv
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}
