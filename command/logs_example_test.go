package command_test

import (
	"encoding/json"
	"fmt"

	"github.com/preflightkit/preflight/command"
)

// The logs and dry_run commands check their data when the spec loads: inline manifests are
// parsed there, so an object apply cannot take fails the load, with its document.
func Example_logsAndDryRunPrepare() {
	logs, _ := command.Builtins().Lookup("logs")
	_, err := logs.Prepare(json.RawMessage(`{"namespace": "rok-system", "label_selector": "app=rok-csi-node", "since_seconds": 60}`), command.SpecContext{})
	fmt.Println("wait for quiet CSI node logs:", err)
	_, err = logs.Prepare(json.RawMessage(`{"namespace": "rok-system"}`), command.SpecContext{})
	fmt.Println(err)

	dryRun, _ := command.Builtins().Lookup("dry_run")
	_, err = dryRun.Prepare(json.RawMessage(`{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rok-config}\n---\napiVersion: v1\nkind: Service\nmetadata: {generateName: rok-}\n"}`), command.SpecContext{})
	fmt.Println(err)
	// Output:
	// wait for quiet CSI node logs: <nil>
	// data.label_selector: Required value: the labels of the pods to read, in kubectl -l syntax, such as app=csi-node
	// data.manifests: Invalid value: document 2: Service has no metadata.name (server-side apply needs one; generateName cannot be applied)
}
