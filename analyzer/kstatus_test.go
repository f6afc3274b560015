package analyzer_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/preflightkit/preflight/analyzer"
)

// object parses a Kubernetes object written as YAML into the JSON data a command outputs.
func object(t testing.TB, src string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(src), &m))
	return normalizeInts(m).(map[string]any)
}

// normalizeInts turns the float64 numbers of a YAML decode into int64, as the kubernetes
// command's objects hold them.
func normalizeInts(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeInts(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeInts(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

const (
	deploymentRolledOut = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, generation: 2}
spec: {replicas: 2}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
`
	deploymentRolling = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, generation: 3}
spec: {replicas: 2}
status:
  observedGeneration: 3
  replicas: 3
  updatedReplicas: 1
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated}
`
	deploymentNotObserved = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, generation: 4}
spec: {replicas: 2}
status: {observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
`
	deploymentStuck = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, generation: 1}
spec: {replicas: 1, progressDeadlineSeconds: 60}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  unavailableReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: "ReplicaSet web-1 has timed out progressing."}
`
	deploymentDeleting = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app, generation: 1, deletionTimestamp: "2026-01-01T00:00:00Z"}
spec: {replicas: 1}
status: {observedGeneration: 1}
`
	statefulSetReady = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: app, generation: 1}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate}}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, availableReplicas: 3, currentRevision: db-1, updateRevision: db-1}
`
	statefulSetStarting = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: app, generation: 1}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate}}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 1, currentReplicas: 3, updatedReplicas: 3, currentRevision: db-1, updateRevision: db-1}
`
	jobComplete = `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: app, generation: 1}
spec: {completions: 1, parallelism: 1}
status:
  succeeded: 1
  startTime: "2026-01-01T00:00:00Z"
  conditions:
  - {type: Complete, status: "True"}
`
	jobFailed = `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: app, generation: 1}
spec: {completions: 1, parallelism: 1}
status:
  failed: 4
  startTime: "2026-01-01T00:00:00Z"
  conditions:
  - {type: Failed, status: "True", reason: BackoffLimitExceeded, message: "Job has reached the specified backoff limit"}
`
	jobRunning = `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: app, generation: 1}
spec: {completions: 1, parallelism: 1}
status: {active: 1, startTime: "2026-01-01T00:00:00Z"}
`
	jobNotStarted = `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: app, generation: 1}
spec: {completions: 1, parallelism: 1}
status: {}
`
	customReady = `
apiVersion: db.example.com/v1
kind: Cluster
metadata: {name: main, namespace: app, generation: 5}
status:
  observedGeneration: 5
  conditions:
  - {type: Ready, status: "True", reason: Reconciled}
`
	customReconciling = `
apiVersion: db.example.com/v1
kind: Cluster
metadata: {name: main, namespace: app, generation: 5}
status:
  observedGeneration: 5
  conditions:
  - {type: Reconciling, status: "True", reason: Scaling, message: "scaling to 3 members"}
`
	customStalled = `
apiVersion: db.example.com/v1
kind: Cluster
metadata: {name: main, namespace: app, generation: 5}
status:
  observedGeneration: 5
  conditions:
  - {type: Stalled, status: "True", reason: BadConfig, message: "spec.storage is too small"}
`
	customNotReady = `
apiVersion: db.example.com/v1
kind: Cluster
metadata: {name: main, namespace: app, generation: 5}
status:
  observedGeneration: 5
  conditions:
  - {type: Ready, status: "False", reason: Waiting, message: "waiting for members"}
`
	customNoStatus = `
apiVersion: db.example.com/v1
kind: Cluster
metadata: {name: main, namespace: app, generation: 1}
`
)

func TestKStatus(t *testing.T) {
	tests := []struct {
		name, object, status, message string
	}{
		{"deployment rolled out", deploymentRolledOut, "Current", "Deployment is available. Replicas: 2"},
		{"deployment rolling", deploymentRolling, "InProgress", "Updated: 1/2"},
		{"deployment generation not observed", deploymentNotObserved, "InProgress", "Deployment generation is 4, but latest observed generation is 3"},
		{"deployment past its progress deadline", deploymentStuck, "Failed", "Progress deadline exceeded"},
		{"deployment being deleted", deploymentDeleting, "Terminating", "Resource scheduled for deletion"},
		{"statefulset ready", statefulSetReady, "Current", "All replicas scheduled as expected. Replicas: 3"},
		{"statefulset starting", statefulSetStarting, "InProgress", "Ready: 1/3"},
		{"job complete", jobComplete, "Current", "Job Completed. succeeded: 1/1"},
		{"job failed", jobFailed, "Failed", "Job Failed. failed: 4/1"},
		// kstatus counts a started Job as Current (it is reconciled: its pods run); completion
		// is the Complete condition, or status.succeeded.
		{"job running", jobRunning, "Current", "Job in progress. success:0, active: 1, failed: 0"},
		{"job not started", jobNotStarted, "InProgress", "Job not started"},
		{"custom resource ready", customReady, "Current", "Resource is Ready"},
		{"custom resource reconciling", customReconciling, "InProgress", "scaling to 3 members"},
		{"custom resource stalled", customStalled, "Failed", "spec.storage is too small"},
		{"custom resource not ready", customNotReady, "InProgress", "waiting for members"},
		{"custom resource without status", customNoStatus, "Current", "Resource is current"},
	}
	status := mustCompileString(t, `kstatus(output).status`)
	message := mustCompileString(t, `kstatus(output).message`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &analyzer.Input{Object: object(t, tt.object)}
			got, err := status.Value(context.Background(), nil, in)
			require.NoError(t, err)
			assert.Equal(t, tt.status, got)
			got, err = message.Value(context.Background(), nil, in)
			require.NoError(t, err)
			assert.Contains(t, got, tt.message)
		})
	}
}

func mustCompileString(t *testing.T, src string) *analyzer.Expression {
	t.Helper()
	e, err := analyzer.CompileValue(src, analyzer.ScopeCondition, reflect.TypeFor[string]())
	require.NoError(t, err, src)
	return e
}

func TestKStatusOverListsAndStdout(t *testing.T) {
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{
		object(t, deploymentRolledOut), object(t, statefulSetReady), object(t, customReady),
	}}
	all := mustCompile(t, `output.items.all(o, kstatus(o).status == "Current")`, analyzer.ScopeCondition)
	ok, err := all.Eval(context.Background(), nil, &analyzer.Input{Object: list})
	require.NoError(t, err)
	assert.True(t, ok)

	list["items"] = append(list["items"].([]any), object(t, customNotReady))
	ok, err = all.Eval(context.Background(), nil, &analyzer.Input{Object: list})
	require.NoError(t, err)
	assert.False(t, ok, "one item in progress")

	// Parsed from stdout (JSON from any command) works the same.
	ok, err = mustCompile(t, `kstatus(output).status == "Current"`, analyzer.ScopeCondition).Eval(context.Background(), nil,
		&analyzer.Input{Stdout: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","generation":1},"status":{"observedGeneration":1,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}`})
	require.NoError(t, err)
	assert.True(t, ok)

	// An object written in CEL.
	ok, err = mustCompile(t, `kstatus({"apiVersion": "v1", "kind": "ConfigMap"}).status == "Current"`, analyzer.ScopeWhen).Eval(context.Background(), nil, nil)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestKStatusErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *analyzer.Input
		want string
	}{
		{"null", &analyzer.Input{Stdout: ""}, "kstatus: the argument is null, not a Kubernetes object"},
		{"a string", &analyzer.Input{Stdout: `"x"`}, "kstatus: the argument is a string, not a Kubernetes object"},
		{"a list", &analyzer.Input{Stdout: `[1]`}, "kstatus: the argument is a list, not a Kubernetes object"},
		{"no kind", &analyzer.Input{Stdout: `{"metadata": {"name": "x"}}`}, "kstatus: the argument has no apiVersion and kind"},
		{"a list object", &analyzer.Input{Stdout: `{"apiVersion": "v1", "kind": "List", "items": []}`}, `take the status of each item: output.items.all(o, kstatus(o).status == "Current")`},
		{"a field of the wrong type", &analyzer.Input{Stdout: `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "generation": "one"}}`}, "kstatus: Deployment w: looking up metadata.generation"},
	}
	e := mustCompile(t, `kstatus(output).status == "Current"`, analyzer.ScopeCondition)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := e.Eval(context.Background(), nil, tt.in)
			require.Error(t, err)
			assert.False(t, ok)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := analyzer.Compile(`kstatus(output).state == "Current"`, analyzer.ScopeCondition)
	require.Error(t, err, "a misspelt field of the result is a compile error")
	assert.Contains(t, err.Error(), "state")
}

// deployments returns a list output of n rolled-out Deployments, as the kubernetes command
// gives it (an Object, not stdout).
func deployments(b *testing.B, n int) *analyzer.Input {
	items := make([]any, n)
	for i := range items {
		items[i] = object(b, deploymentRolledOut)
	}
	return &analyzer.Input{Object: map[string]any{"apiVersion": "v1", "kind": "List", "items": items}}
}

// benchmarkRollout evaluates src, which must hold, over 100 rolled-out Deployments.
func benchmarkRollout(b *testing.B, src string) {
	e := mustCompile(b, src, analyzer.ScopeCondition)
	in := deployments(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.Eval(ctx, nil, in); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkRolloutKStatus is "are all 100 Deployments rolled out" with kstatus; compare with
// BenchmarkRolloutHandWritten, the check written by hand over the status fields (the
// baseline), in the same run.
func BenchmarkRolloutKStatus(b *testing.B) {
	benchmarkRollout(b, `output.items.all(d, kstatus(d).status == "Current")`)
}

func BenchmarkRolloutHandWritten(b *testing.B) {
	benchmarkRollout(b, `output.items.all(d, d.status.observedGeneration == d.metadata.generation &&
		d.status.updatedReplicas == d.spec.replicas && d.status.availableReplicas == d.spec.replicas &&
		d.status.replicas == d.spec.replicas)`)
}
