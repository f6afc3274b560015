package command_test

import (
	"encoding/json"
	"fmt"

	"github.com/preflightkit/preflight/command"
)

// The kubernetes command checks its data when the spec loads: a selector that cannot be
// parsed, or a name combined with a selector, is reported before anything runs.
func Example_kubernetesPrepare() {
	kube, _ := command.Builtins().Lookup("kubernetes")

	_, err := kube.Prepare(json.RawMessage(`{"api_version": "v1", "kind": "Pod", "namespace": "rook-ceph", "label_selector": "app=rook-ceph-mon"}`), command.SpecContext{})
	fmt.Println("list rook-ceph mons:", err)

	_, err = kube.Prepare(json.RawMessage(`{"api_version": "v1", "kind": "Pod", "name": "mon-a", "label_selector": "app=rook-ceph-mon"}`), command.SpecContext{})
	fmt.Println(err)
	// Output:
	// list rook-ceph mons: <nil>
	// data.label_selector: Invalid value: cannot be combined with data.name; give name to get one object, or a selector to list objects
}
