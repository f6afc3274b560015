package upgrade_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// example loads examples/<name>.
func example(t testing.TB, name string) *requirement.Spec {
	t.Helper()
	spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, filepath.Join("..", "..", "..", "examples", name))
	require.NoError(t, err)
	return spec
}

// rec is a recorded output of one requirement, as `preflight run -o json` writes it.
type rec struct {
	code   int
	stdout string
	err    string
	nodes  []runner.NodeResult
}

// evaluate analyses recorded outputs against spec, without running anything.
func evaluate(t *testing.T, spec *requirement.Spec, opts runner.Options, cluster map[string]any, outputs map[string]rec) *runner.Decision {
	t.Helper()
	recorded := &runner.Decision{Cluster: cluster}
	for id, o := range outputs {
		r := runner.RequirementResult{ID: id, Stdout: o.stdout, Error: o.err, Nodes: o.nodes}
		if o.nodes == nil {
			code := o.code
			r.StatusCode = &code
		}
		recorded.Requirements = append(recorded.Requirements, r)
	}
	r, err := runner.New(opts)
	require.NoError(t, err)
	d, err := r.Evaluate(context.Background(), spec, recorded)
	require.NoError(t, err)
	return d
}

func byID(d *runner.Decision) map[string]runner.RequirementResult {
	out := map[string]runner.RequirementResult{}
	for _, r := range d.Requirements {
		out[r.ID] = r
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

var upgrade = runner.Options{Phase: runner.Upgrade, AppVersion: "3.0.0", PreviousVersion: "2.4.1"}

func TestRookCephTeardownOffline(t *testing.T) {
	spec := example(t, "rook-ceph-teardown.yaml")
	monPods := mustJSON(t, map[string]any{"apiVersion": "v1", "kind": "PodList", "items": []any{
		map[string]any{"metadata": map[string]any{"name": "rook-ceph-mon-a-7d9", "labels": map[string]any{"app": "rook-ceph-mon"}}},
	}})
	noItems := `{"apiVersion":"v1","kind":"PodList","items":[]}`
	noKind := `no kind "CephCluster" in group/version "ceph.rook.io/v1": no matches for kind "CephCluster" in version "ceph.rook.io/v1"`
	checkOffline(t, spec, []offlineCase{
		{name: "install skips both", opts: runner.Options{}, gate: runner.GatePass,
			status: map[string]runner.Status{"old-ceph-monitors-gone": runner.StatusSkipped, "old-cephcluster-deleted": runner.StatusSkipped}},
		{name: "monitors still run", opts: upgrade, gate: runner.GateBlocked,
			outputs: map[string]rec{"old-ceph-monitors-gone": {stdout: monPods}, "old-cephcluster-deleted": {code: 1, err: noKind}},
			status:  map[string]runner.Status{"old-ceph-monitors-gone": runner.StatusFail, "old-cephcluster-deleted": runner.StatusPass},
			message: map[string]string{
				"old-ceph-monitors-gone":  "kubectl -n rook-ceph delete cephcluster rook-ceph",
				"old-cephcluster-deleted": "Rook is not installed",
			}},
		{name: "torn down", opts: upgrade, gate: runner.GatePass,
			outputs: map[string]rec{"old-ceph-monitors-gone": {stdout: noItems}, "old-cephcluster-deleted": {stdout: `{"items":[]}`}},
			status:  map[string]runner.Status{"old-ceph-monitors-gone": runner.StatusPass, "old-cephcluster-deleted": runner.StatusPass}},
		{name: "a CephCluster remains", opts: upgrade, gate: runner.GateBlocked,
			outputs: map[string]rec{"old-ceph-monitors-gone": {stdout: noItems}, "old-cephcluster-deleted": {stdout: `{"items":[{"metadata":{"name":"rook-ceph"}}]}`}},
			status:  map[string]runner.Status{"old-ceph-monitors-gone": runner.StatusPass, "old-cephcluster-deleted": runner.StatusFail},
			message: map[string]string{"old-cephcluster-deleted": "delete cephcluster --all"}},
		{name: "a permission error never passes", opts: upgrade, gate: runner.GateBlocked,
			outputs: map[string]rec{
				"old-ceph-monitors-gone":  {code: 1, err: `cannot list pods in namespace "rook-ceph": forbidden: pods is forbidden`},
				"old-cephcluster-deleted": {code: 1, err: `cannot list cephclusters.ceph.rook.io in namespace "rook-ceph": forbidden`},
			},
			status:  map[string]runner.Status{"old-ceph-monitors-gone": runner.StatusFail, "old-cephcluster-deleted": runner.StatusFail},
			message: map[string]string{"old-cephcluster-deleted": "Could not check for CephCluster objects: cannot list"}},
	})
}

// offlineCase is one evaluation of an example against recorded outputs, and what it must
// decide.
type offlineCase struct {
	name    string
	opts    runner.Options
	outputs map[string]rec
	gate    runner.Gate
	status  map[string]runner.Status
	message map[string]string // substrings
}

// checkOffline evaluates spec for each case and checks the gate, the statuses, the messages
// and the phase the decision records.
func checkOffline(t *testing.T, spec *requirement.Spec, tests []offlineCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluate(t, spec, tt.opts, nil, tt.outputs)
			assert.Equal(t, tt.gate, d.Gate)
			phase := tt.opts.Phase
			if phase == "" {
				phase = runner.Install
			}
			assert.Equal(t, phase, d.Phase, "the decision says which phase ran")
			got := byID(d)
			for id, s := range tt.status {
				assert.Equal(t, s, got[id].Status, id)
			}
			for id, m := range tt.message {
				assert.Contains(t, got[id].Message, m, id)
			}
		})
	}
}

// node is one node of recorded cluster facts.
func node(name string, ready bool, mem string, taints ...map[string]any) map[string]any {
	ts := []any{}
	for _, t := range taints {
		ts = append(ts, t)
	}
	return map[string]any{
		"name": name, "labels": map[string]any{}, "ready": ready, "unschedulable": false, "taints": ts,
		"capacity": map[string]any{"memory": "16Gi"}, "allocatable": map[string]any{"memory": mem},
	}
}

func TestClusterCapacityOffline(t *testing.T) {
	spec := example(t, "cluster-capacity.yaml")
	info := rec{stdout: `{}`} // cluster_info's output; the conditions read the recorded cluster
	outputs := map[string]rec{"kubernetes-version": info, "worker-capacity": info}
	noSchedule := map[string]any{"key": "dedicated", "value": "db", "effect": "NoSchedule"}
	preferNo := map[string]any{"key": "spot", "value": "", "effect": "PreferNoSchedule"}
	three := []any{node("a", true, "8Gi"), node("b", true, "15Gi"), node("c", true, "8589934592")}
	tests := []struct {
		name    string
		version string
		nodes   []any
		vars    map[string]any
		want    map[string]runner.Status
	}{
		{name: "fits", version: "1.30.0", nodes: three,
			want: map[string]runner.Status{"kubernetes-version": runner.StatusPass, "worker-capacity": runner.StatusPass}},
		{name: "old kubernetes", version: "1.29.14", nodes: three,
			want: map[string]runner.Status{"kubernetes-version": runner.StatusFail, "worker-capacity": runner.StatusPass}},
		{name: "one node too small", version: "1.36.3",
			nodes: []any{node("a", true, "8Gi"), node("b", true, "15Gi"), node("c", true, "7999Mi")},
			want:  map[string]runner.Status{"kubernetes-version": runner.StatusPass, "worker-capacity": runner.StatusWarn}},
		{name: "one node not ready", version: "1.36.3",
			nodes: []any{node("a", true, "8Gi"), node("b", false, "15Gi"), node("c", true, "8Gi")},
			want:  map[string]runner.Status{"kubernetes-version": runner.StatusPass, "worker-capacity": runner.StatusWarn}},
		{name: "tainted nodes do not count, PreferNoSchedule does", version: "1.36.3",
			nodes: []any{node("a", true, "8Gi", preferNo), node("b", true, "15Gi", noSchedule), node("c", true, "8Gi"), node("d", true, "9Gi")},
			want:  map[string]runner.Status{"kubernetes-version": runner.StatusPass, "worker-capacity": runner.StatusPass}},
		{name: "min_nodes from vars", version: "1.36.3", nodes: []any{node("a", true, "32Gi")}, vars: map[string]any{"min_nodes": int64(1)},
			want: map[string]runner.Status{"kubernetes-version": runner.StatusPass, "worker-capacity": runner.StatusPass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := map[string]any{"version": tt.version, "nodes": tt.nodes}
			d := evaluate(t, spec, runner.Options{Vars: tt.vars}, cluster, outputs)
			got := map[string]runner.Status{}
			for id, r := range byID(d) {
				got[id] = r.Status
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUpgradeFromBelow2Offline(t *testing.T) {
	spec := example(t, "upgrade-from-below-2.yaml")
	backup := func(status string) rec {
		return rec{stdout: mustJSON(t, map[string]any{"kind": "ConfigMap", "data": map[string]any{"status": status}})}
	}
	schema := func(rev string) rec {
		return rec{stdout: mustJSON(t, map[string]any{"kind": "ConfigMap", "data": map[string]any{"revision": rev}})}
	}
	from := func(prev string) runner.Options {
		return runner.Options{Phase: runner.Upgrade, AppVersion: "2.1.0", PreviousVersion: prev}
	}
	tests := []struct {
		name    string
		opts    runner.Options
		outputs map[string]rec
		want    map[string]runner.Status
		gate    runner.Gate
		notRun  string // message of schema-ready-for-v2 when not run
	}{
		{name: "install", opts: runner.Options{AppVersion: "2.1.0"}, gate: runner.GatePass,
			want: map[string]runner.Status{"backup-before-v2": runner.StatusSkipped, "schema-ready-for-v2": runner.StatusSkipped}},
		{name: "from 2.0.1", opts: from("2.0.1"), gate: runner.GatePass,
			want: map[string]runner.Status{"backup-before-v2": runner.StatusSkipped, "schema-ready-for-v2": runner.StatusSkipped}},
		{name: "from 1.9.3, no backup", opts: from("1.9.3"), gate: runner.GateBlocked,
			outputs: map[string]rec{"backup-before-v2": {code: 1}},
			want:    map[string]runner.Status{"backup-before-v2": runner.StatusFail, "schema-ready-for-v2": runner.StatusNotRun},
			notRun:  "backup-before-v2"},
		{name: "from 1.9.3, backup incomplete", opts: from("1.9.3"), gate: runner.GateBlocked,
			outputs: map[string]rec{"backup-before-v2": backup("running")},
			want:    map[string]runner.Status{"backup-before-v2": runner.StatusFail, "schema-ready-for-v2": runner.StatusNotRun}},
		{name: "from 1.9.3, ready", opts: from("1.9.3"), gate: runner.GatePass,
			outputs: map[string]rec{"backup-before-v2": backup("complete"), "schema-ready-for-v2": schema("1.9.2")},
			want:    map[string]runner.Status{"backup-before-v2": runner.StatusPass, "schema-ready-for-v2": runner.StatusPass}},
		{name: "from 1.4.0, schema too old", opts: from("1.4.0"), gate: runner.GateBlocked,
			outputs: map[string]rec{"backup-before-v2": backup("complete"), "schema-ready-for-v2": schema("v1.4")},
			want:    map[string]runner.Status{"backup-before-v2": runner.StatusPass, "schema-ready-for-v2": runner.StatusFail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluate(t, spec, tt.opts, nil, tt.outputs)
			assert.Equal(t, tt.gate, d.Gate)
			got := map[string]runner.Status{}
			for id, r := range byID(d) {
				got[id] = r.Status
			}
			assert.Equal(t, tt.want, got)
			if tt.notRun != "" {
				assert.Contains(t, byID(d)["schema-ready-for-v2"].Message, tt.notRun)
			}
		})
	}
}

func TestWaitUntilUpgradeableOffline(t *testing.T) {
	spec := example(t, "upgrade-wait-until-upgradeable.yaml")
	tests := []struct {
		name    string
		out     rec
		status  runner.Status
		message string
	}{
		{name: "yes", out: rec{code: 200, stdout: `{"upgradeable": true}`}, status: runner.StatusPass, message: "can be upgraded"},
		{name: "not yet", out: rec{code: 200, stdout: `{"upgradeable": false, "reason": "backup running"}`}, status: runner.StatusFail, message: `(HTTP 200): {"upgradeable": false, "reason": "backup running"}`},
		{name: "not JSON", out: rec{code: 200, stdout: `yes`}, status: runner.StatusFail, message: "not ready to be upgraded yet"},
		{name: "503", out: rec{code: 503, stdout: `draining`}, status: runner.StatusFail, message: "(HTTP 503): draining"},
		{name: "unreachable", out: rec{code: 1, err: "dial tcp 127.0.0.1:8080: connect: connection refused"}, status: runner.StatusFail, message: "could not be reached: dial tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluate(t, spec, upgrade, nil, map[string]rec{"app-upgradeable": tt.out})
			r := byID(d)["app-upgradeable"]
			assert.Equal(t, tt.status, r.Status)
			assert.Contains(t, r.Message, tt.message)
			if tt.status == runner.StatusFail {
				assert.Equal(t, runner.GateBlocked, d.Gate, "the requirement is strict")
			}
		})
	}
}

func TestNodeStepsOffline(t *testing.T) {
	spec := example(t, "node-steps.yaml")
	require.Len(t, spec.Pods, 1)
	pod := spec.Pods["node-step"]
	require.NotNil(t, pod)
	assert.True(t, pod.Spec.HostPID, "the privileges are explicit in the spec")
	assert.True(t, *pod.Spec.Containers[0].SecurityContext.Privileged)
	assert.Equal(t, []string{"nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "/bin/sh", "-c"}, pod.Spec.Containers[0].Command[:11])

	zero, three := 0, 3
	d := evaluate(t, spec, upgrade, nil, map[string]rec{"node-host-ready": {nodes: []runner.NodeResult{
		{Node: "storage-1", StatusCode: &zero, Stdout: "host storage-1 is ready\n"},
		{Node: "storage-2", StatusCode: &three, Stdout: "old rook-ceph data remains in /var/lib/rook on storage-2; remove it\n"},
	}}})
	r := byID(d)["node-host-ready"]
	assert.Equal(t, runner.GateBlocked, d.Gate)
	assert.Equal(t, runner.StatusFail, r.Status)
	assert.Contains(t, r.Message, "storage-2")
	assert.Contains(t, r.Message, "old rook-ceph data remains in /var/lib/rook")
	assert.NotContains(t, r.Message, "storage-1")
}
