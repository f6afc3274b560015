package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/preflightkit/preflight/internal/cli"
	"github.com/preflightkit/preflight/runner"
)

// Run is the whole command line: main passes os.Args[1:] and the process's streams, and
// exits with what Run returns.
func ExampleRun() {
	code := cli.Run(context.Background(), []string{"validate", "testdata/specs/pass.yaml"}, nil, os.Stdout, os.Stderr)
	fmt.Println("exit code:", code)
	// Output:
	// spec is valid: 3 requirements (0 pod templates)
	// exit code: 0
}

// With -o json, stdout holds only the runner's Decision, ready for another program.
func ExampleRun_json() {
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"run", "testdata/specs/mixed.yaml", "-o", "json", "-q"}, nil, &stdout, &stderr)
	var d runner.Decision
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exit code:", code, "gate:", d.Gate)
	for _, r := range d.Requirements {
		fmt.Println(r.ID, r.Status)
	}
	// Output:
	// exit code: 3 gate: needs_ack
	// ok pass
	// broken fail
	// low-memory warn
}
