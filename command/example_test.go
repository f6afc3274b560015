package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/preflightkit/preflight/command"
)

// A caller adds its own command to the built-in ones: its Prepare checks the data when the
// spec loads, and the Prepared it returns runs as often as the runner needs. Here "license"
// reads a license file and reports, as the status code, whether it names the expected
// customer.
func ExampleRegistry_Register() {
	reg := command.Builtins()
	license := command.Func(func(data json.RawMessage, _ command.SpecContext) (command.Prepared, error) {
		var d struct {
			Path     string `json:"path"`
			Customer string `json:"customer"`
		}
		if err := json.Unmarshal(data, &d); err != nil || d.Path == "" {
			return nil, errors.New("data.path: required")
		}
		return command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
			b, err := os.ReadFile(d.Path)
			if err != nil {
				// Could not produce a result: Err set, so no result condition mistakes it
				// for an answer.
				return &command.Result{Outputs: []command.Output{{StatusCode: command.CodeGeneralError, Err: err}}}, nil
			}
			code := 0
			if !strings.Contains(string(b), "customer: "+d.Customer) {
				code = 1
			}
			return &command.Result{Outputs: []command.Output{{StatusCode: code, Stdout: string(b)}}}, nil
		}), nil
	})
	if err := reg.Register("license", license); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reg.Register("exec", license)) // built-in ids are taken

	f, _ := os.CreateTemp("", "license")
	defer os.Remove(f.Name())
	_, _ = f.WriteString("customer: acme\n")
	_ = f.Close()

	c, _ := reg.Lookup("license")
	_, err := c.Prepare(json.RawMessage(`{}`), command.SpecContext{})
	fmt.Println("load:", err)
	p, _ := c.Prepare(json.RawMessage(`{"path": "`+f.Name()+`", "customer": "acme"}`), command.SpecContext{})
	res, _ := p.Run(context.Background(), &command.Env{})
	fmt.Println("status code:", res.Outputs[0].StatusCode)
	// Output:
	// command "exec" is already registered
	// load: data.path: required
	// status code: 0
}

// The exec command runs a local process: argv with no shell (or data.shell for a script),
// output captured up to the output limit, the whole process group killed when the timeout
// passes.
func Example_exec() {
	exec, _ := command.Builtins().Lookup("exec")

	_, err := exec.Prepare(json.RawMessage(`{"cmd": "test -e /etc/x"}`), command.SpecContext{})
	fmt.Println(err)

	p, _ := exec.Prepare(json.RawMessage(`{"cmd": ["sh", "-c", "echo $GREETING; exit 3"], "env": {"GREETING": "hello"}}`), command.SpecContext{})
	res, _ := p.Run(context.Background(), &command.Env{})
	fmt.Printf("%d %q\n", res.Outputs[0].StatusCode, res.Outputs[0].Stdout)

	p, _ = exec.Prepare(json.RawMessage(`{"shell": "sleep 600"}`), command.SpecContext{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, _ = p.Run(ctx, &command.Env{Timeout: 200 * time.Millisecond})
	fmt.Println(res.Outputs[0].StatusCode, res.Outputs[0].Err)
	// Output:
	// data.cmd: Invalid value: "test -e /etc/x" is not a JSON array: give the argv as an array (cmd: ["test", "-e", "/etc/x"]) or put a script in data.shell
	// 3 "hello\n"
	// 62 timed out after 200ms
}

// The host checks of the classic format: a port that must be free, and the space left on a
// filesystem (stdout is the number of bytes, for CEL such as int(stdout) > 10 * 1024 * 1024 * 1024).
func Example_hostChecks() {
	reg := command.Builtins()
	port, _ := reg.Lookup("port_available")
	_, err := port.Prepare(json.RawMessage(`{"port": "70000"}`), command.SpecContext{})
	fmt.Println(err)

	disk, _ := reg.Lookup("disk_space_available")
	p, _ := disk.Prepare(json.RawMessage(`{"dir": "/"}`), command.SpecContext{})
	res, _ := p.Run(context.Background(), &command.Env{})
	var bytes int64
	_, err = fmt.Sscan(res.Outputs[0].Stdout, &bytes)
	fmt.Println(res.Outputs[0].StatusCode, err == nil && bytes >= 0)
	// Output:
	// data.port: Invalid value: 70000 is out of range 1-65535
	// 0 true
}

// Permanent tells the errors a retry stops on at once from those worth retrying.
func ExamplePermanent() {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("RBAC: access denied"))
	fmt.Println(command.Permanent(fmt.Errorf("getting web: %w", forbidden)))
	fmt.Println(command.Permanent(fmt.Errorf("the kubernetes command needs a cluster: %w", command.ErrNoCluster)))
	fmt.Println(command.Permanent(errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")))
	// Output:
	// true
	// true
	// false
}
