package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// Load a spec, run it on the host, and read the gate.
func ExampleRunner_Run() {
	const spec = `
custom_requirements:
- id: shell-works
  message: A POSIX shell can run
  command:
    id: exec
    data:
      cmd: ["true"]
  results:
  - status: success
    message: The shell works.
    condition:
      status_code: 0
  - status: error
    message: The shell does not work.
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err) // lists every problem of the spec with its location
	}
	r, err := runner.New(runner.Options{Phase: runner.Install})
	if err != nil {
		log.Fatal(err)
	}
	d, err := r.Run(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("gate:", d.Gate)
	for _, req := range d.Requirements {
		fmt.Printf("%s: %s: %s\n", req.ID, req.Status, req.Message)
	}
	// Output:
	// gate: pass
	// shell-works: pass: The shell works.
}

// Register a command of your own and use it in a spec: here a check of the installer's
// licence, which the spec cannot know how to run.
func ExampleRunner_Run_customCommand() {
	licensed := map[string]bool{"acme": true}
	registry := command.Builtins()
	err := registry.Register("license", command.Func(func(data json.RawMessage, _ command.SpecContext) (command.Prepared, error) {
		var cfg struct {
			Customer string `json:"customer"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil || cfg.Customer == "" {
			return nil, fmt.Errorf("data.customer: required")
		}
		return command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
			code := 1
			if licensed[cfg.Customer] {
				code = 0
			}
			return &command.Result{Outputs: []command.Output{{StatusCode: code}}}, nil
		}), nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	const spec = `
custom_requirements:
- id: licensed
  command: {id: license, data: {customer: acme}}
  results:
  - {status: success, message: Licensed., condition: {status_code: 0}}
  - {status: error, message: No licence.}
- id: other-licensed
  command: {id: license, data: {customer: globex}}
  results:
  - {status: success, message: Licensed., condition: {status_code: 0}}
  - {status: warn, message: No licence for globex.}
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{Registry: registry}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	r, err := runner.New(runner.Options{})
	if err != nil {
		log.Fatal(err)
	}
	d, err := r.Run(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("gate:", d.Gate, "acknowledge:", d.NeedsAck())

	// The caller shows the warning, the user accepts it, the caller runs again.
	r, err = runner.New(runner.Options{Acknowledge: d.NeedsAck()})
	if err != nil {
		log.Fatal(err)
	}
	d, err = r.Run(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("gate:", d.Gate)
	// Output:
	// gate: needs_ack acknowledge: [other-licensed]
	// gate: pass
}

// Read a decision: the gate, then each requirement's status, message and nodes.
// One spec carries the gate and the verification after the action: each requirement's
// `when` picks its phase, and the decision says which phase ran.
func ExamplePhase() {
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "guide.yaml", Reader: strings.NewReader(`
custom_requirements:
- id: gate
  when: phase == "upgrade"
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
- id: verify
  when: phase == "post-upgrade" && app.version == "2.0.0"
  command: {id: exec, data: {cmd: ["true"]}}
  results: [{status: success}]
`)})
	if err != nil {
		panic(err)
	}
	for _, phase := range []runner.Phase{runner.Upgrade, runner.PostUpgrade} {
		r, err := runner.New(runner.Options{Phase: phase, PreviousVersion: "1.4.2", AppVersion: "2.0.0"})
		if err != nil {
			panic(err)
		}
		d, err := r.Run(context.Background(), spec)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Phase, d.Requirements[0].ID, d.Requirements[0].Status, d.Requirements[1].ID, d.Requirements[1].Status)
	}
	fmt.Println(runner.Phase("rollback").Valid())
	// Output:
	// upgrade gate pass verify skipped
	// post-upgrade gate skipped verify pass
	// false
}

func ExampleDecision() {
	// A decision as `preflight run -o json` prints it.
	const recorded = `{
  "gate": "blocked", "run_id": "3f9a0c1d2e", "started": "2026-01-02T03:04:05Z", "duration": 4.2,
  "requirements": [
    {"id": "license-file", "status": "fail", "strict": true, "duration": 3.9, "status_code": 1,
     "message": "error on 1 of 3 nodes (worker-2): License missing",
     "nodes": [
       {"node": "cp-1", "status": "skipped", "excluded": "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated", "duration": 0},
       {"node": "worker-1", "status": "pass", "message": "License found", "status_code": 0, "duration": 1.2},
       {"node": "worker-2", "status": "fail", "message": "License missing", "status_code": 1, "duration": 1.1},
       {"node": "worker-3", "status": "pass", "message": "License found", "status_code": 0, "duration": 1.3}]},
    {"id": "port-80", "status": "warn", "message": "Port 80 is taken", "status_code": 98, "duration": 0.001}
  ]}`
	var d runner.Decision
	if err := json.Unmarshal([]byte(recorded), &d); err != nil {
		log.Fatal(err)
	}
	if d.Blocked() {
		fmt.Println("refusing to deploy")
	}
	for _, r := range d.Requirements {
		fmt.Printf("%s (strict=%v): %s in %s: %s\n", r.ID, r.Strict, r.Status, r.Duration, r.Message)
		for _, n := range r.Nodes {
			fmt.Printf("  %s: %s %s\n", n.Node, n.Status, n.Message+n.Excluded)
		}
	}
	fmt.Println("to acknowledge:", strings.Join(d.NeedsAck(), ", "))
	// Output:
	// refusing to deploy
	// license-file (strict=true): fail in 3.9s: error on 1 of 3 nodes (worker-2): License missing
	//   cp-1: skipped taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated
	//   worker-1: pass License found
	//   worker-2: fail License missing
	//   worker-3: pass License found
	// port-80 (strict=false): warn in 1ms: Port 80 is taken
	// to acknowledge: port-80
}

// Evaluate a spec against recorded outputs, without running anything: how a vendor unit-tests
// the results of a spec.
func ExampleRunner_Evaluate() {
	const spec = `
custom_requirements:
- id: upgradeable
  command: {id: http, data: {url: "http://app.example/upgradeable"}}
  results:
  - status: success
    message: The app can be upgraded.
    condition: {status_code: 200, expr: "output.upgradeable == true"}
  - status: error
    message: The app is not ready for an upgrade.
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	r, err := runner.New(runner.Options{Phase: runner.Upgrade})
	if err != nil {
		log.Fatal(err)
	}
	for _, body := range []string{`{"upgradeable": true}`, `{"upgradeable": false}`} {
		code := 200
		recorded := &runner.Decision{Requirements: []runner.RequirementResult{
			{ID: "upgradeable", StatusCode: &code, Stdout: body},
		}}
		d, err := r.Evaluate(ctx, s, recorded)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s -> %s: %s\n", body, d.Requirements[0].Status, d.Requirements[0].Message)
	}
	// Output:
	// {"upgradeable": true} -> pass: The app can be upgraded.
	// {"upgradeable": false} -> fail: The app is not ready for an upgrade.
}

// The errors behind a requirement's result are kept as Go errors in RequirementResult.Err:
// errors.As and errors.Is tell a timeout from a refused permission or an unschedulable pod.
// An interrupted run returns its partial decision with an *InterruptedError.
func ExampleRequirementResult_Err() {
	const spec = `
custom_requirements:
- id: slow
  command:
    id: exec
    timeout: 1
    data:
      cmd: ["sleep", "30"]
  results:
  - status: success
    condition:
      status_code: 0
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	r, err := runner.New(runner.Options{})
	if err != nil {
		log.Fatal(err)
	}
	d, err := r.Run(ctx, s)
	var interrupted *runner.InterruptedError
	if errors.As(err, &interrupted) {
		fmt.Println("the run was cut short:", interrupted.Cause)
	} else if err != nil {
		log.Fatal(err)
	}
	for _, rr := range d.Requirements {
		var timeout *command.TimeoutError
		var denied *command.PermissionError
		switch {
		case errors.As(rr.Err, &timeout):
			fmt.Printf("%s: %s after %s\n", rr.ID, rr.Status, timeout.After)
		case errors.As(rr.Err, &denied):
			fmt.Printf("%s: grant %v in namespace %s\n", rr.ID, denied.Denied, denied.Namespace)
		case errors.Is(rr.Err, command.ErrUnschedulable):
			fmt.Printf("%s: no node can run the check pod\n", rr.ID)
		}
	}
	// Output:
	// slow: fail after 1s
}

// Bound the command output a run keeps with Options.OutputBudget: here 1000 bytes, for three
// local processes that each print 600. The conditions see every byte (all three pass); the
// decision keeps what the budget allows, in the order the requirements finish (spec order
// with Parallel 1), and marks the ones it trimmed.
func ExampleOptions_outputBudget() {
	const spec = `
custom_requirements:
- id: first
  command: {id: exec, data: {shell: 'printf "%0600d" 0'}}
  results:
  - {status: success, message: 600 bytes., condition: {expr: 'stdout.size() == 600'}}
  - {status: error, message: Short output.}
- id: second
  command: {id: exec, data: {shell: 'printf "%0600d" 0'}}
  results:
  - {status: success, message: 600 bytes., condition: {expr: 'stdout.size() == 600'}}
  - {status: error, message: Short output.}
- id: third
  command: {id: exec, data: {shell: 'printf "%0600d" 0'}}
  results:
  - {status: success, message: 600 bytes., condition: {expr: 'stdout.size() == 600'}}
  - {status: error, message: Short output.}
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	r, err := runner.New(runner.Options{Parallel: 1, OutputBudget: 1000})
	if err != nil {
		log.Fatal(err)
	}
	d, err := r.Run(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	for _, req := range d.Requirements {
		fmt.Printf("%s: %s, kept %d bytes, trimmed %v\n", req.ID, req.Status, len(req.Stdout), req.OutputTrimmed)
	}
	// Output:
	// first: pass, kept 600 bytes, trimmed false
	// second: pass, kept 400 bytes, trimmed true
	// third: pass, kept 0 bytes, trimmed true
}

// Derive the least RBAC rules a spec's run needs: a Role per namespace and a ClusterRole.
// With runner.Options.Config set, kinds of kubernetes and dry_run commands are mapped
// through the cluster's discovery, as the run maps them.
func ExamplePermissions() {
	const spec = `
custom_requirements:
- id: app-upgradeable
  command: {id: http, data: {service: {name: myapp, port: 8080}, path: /upgradeable}}
  results: [{status: success, condition: {status_code: 200}}]
- id: license-file
  command:
    id: scheduler
    data: {kubernetes: {global: true, pod: {spec: {containers: [{name: c, image: busybox, command: ["test", "-e", "/host/etc/license"]}]}}}}
  results: [{status: success, condition: {status_code: 0}}]
- id: dynamic
  command: {id: logs, data: {label_selector_expr: 'vars.selector'}}
  results: [{status: success}]
`
	s, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	// A command whose data comes from vars cannot tell what it will call.
	_, err = runner.Permissions(context.Background(), s, runner.Options{Namespace: "myapp"})
	fmt.Println(errors.Is(err, runner.ErrRuntimeData))
	s.Requirements = s.Requirements[:2]
	rules, err := runner.Permissions(context.Background(), s, runner.Options{Namespace: "myapp"})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rules.Namespaces["myapp"] {
		fmt.Println("Role myapp:", r.Verbs, r.Resources, r.ResourceNames)
	}
	for _, r := range rules.Cluster {
		fmt.Println("ClusterRole:", r.Verbs, r.APIGroups, r.Resources)
	}
	// Output:
	// true
	// Role myapp: [list watch] [events] []
	// Role myapp: [create delete list watch] [pods] []
	// Role myapp: [get] [pods/log] []
	// Role myapp: [get] [services/proxy] [myapp:8080]
	// ClusterRole: [get list] [] [nodes]
	// ClusterRole: [create] [authorization.k8s.io] [selfsubjectaccessreviews]
}
