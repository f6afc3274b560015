package upgrade_test

import (
	"testing"

	"github.com/preflightkit/preflight/runner"
)

// TestUpgradeGuideOffline evaluates examples/upgrade-guide.yaml against recorded outputs:
// each phase runs its own steps, the post-upgrade verification reads the Job and the
// RokCluster, and a recorded logs output (whose `output` is not recorded) never passes.
func TestUpgradeGuideOffline(t *testing.T) {
	spec := example(t, "upgrade-guide.yaml")
	post := runner.Options{Phase: runner.PostUpgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0"}
	gate := runner.Options{Phase: runner.Upgrade, PreviousVersion: "1.4.2", AppVersion: "2.0.0"}
	job := func(cond string) rec {
		return rec{stdout: `{"kind":"Job","metadata":{"name":"rok-upgrade"},"status":{"conditions":[{"type":"` + cond + `","status":"True"}]}}`}
	}
	rok := func(version, phase string) rec {
		return rec{stdout: `{"kind":"RokCluster","metadata":{"name":"rok"},"status":{"version":"` + version + `","phase":"` + phase + `"}}`}
	}
	operator := func(replicas int) rec {
		return rec{stdout: mustJSON(t, map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet",
			"metadata": map[string]any{"name": "rok-operator", "generation": 3},
			"spec":     map[string]any{"replicas": replicas},
			"status":   map[string]any{"replicas": replicas, "observedGeneration": 3}})}
	}
	checkOffline(t, spec, []offlineCase{
		{name: "install: nothing applies", opts: runner.Options{AppVersion: "2.0.0"}, gate: runner.GatePass,
			status: map[string]runner.Status{"operator-scaled-down": runner.StatusSkipped, "upgrade-job-completed": runner.StatusSkipped, "rokcluster-reports-new-version": runner.StatusSkipped}},
		{name: "upgraded", opts: post, gate: runner.GatePass,
			outputs: map[string]rec{"upgrade-job-completed": job("Complete"), "rokcluster-reports-new-version": rok("2.0.0", "Healthy")},
			status: map[string]runner.Status{
				"upgrade-job-completed": runner.StatusPass, "rokcluster-reports-new-version": runner.StatusPass,
				"operator-scaled-down": runner.StatusSkipped, "csi-node-drained": runner.StatusSkipped, "v2-manifests-accepted": runner.StatusSkipped,
			}},
		{name: "the Job failed", opts: post, gate: runner.GateBlocked,
			outputs: map[string]rec{"upgrade-job-completed": job("Failed"), "rokcluster-reports-new-version": rok("2.0.0", "Healthy")},
			status:  map[string]runner.Status{"upgrade-job-completed": runner.StatusFail, "rokcluster-reports-new-version": runner.StatusNotRun},
			message: map[string]string{"upgrade-job-completed": "The upgrade Job rok-upgrade failed"}},
		{name: "an old version", opts: post, gate: runner.GateBlocked,
			outputs: map[string]rec{"upgrade-job-completed": job("Complete"), "rokcluster-reports-new-version": rok("1.4.2", "Healthy")},
			status:  map[string]runner.Status{"rokcluster-reports-new-version": runner.StatusFail},
			message: map[string]string{"rokcluster-reports-new-version": "does not report the installed version yet"}},
		{name: "not healthy", opts: post, gate: runner.GateBlocked,
			outputs: map[string]rec{"upgrade-job-completed": job("Complete"), "rokcluster-reports-new-version": rok("2.0.0", "Degraded")},
			status:  map[string]runner.Status{"rokcluster-reports-new-version": runner.StatusFail},
			message: map[string]string{"rokcluster-reports-new-version": "is not healthy"}},
		{name: "post-install verifies the RokCluster only", opts: runner.Options{Phase: runner.PostInstall, AppVersion: "2.0.0"}, gate: runner.GatePass,
			outputs: map[string]rec{"rokcluster-reports-new-version": rok("2.0.0", "Healthy")},
			status:  map[string]runner.Status{"upgrade-job-completed": runner.StatusSkipped, "rokcluster-reports-new-version": runner.StatusPass}},
		{name: "the operator still runs", opts: gate, gate: runner.GateBlocked,
			outputs: map[string]rec{"operator-scaled-down": operator(1), "v2-manifests-accepted": {code: 0, stdout: "accepted: StatefulSet rok-system/rok-tools (apps/v1)\n"}},
			status:  map[string]runner.Status{"operator-scaled-down": runner.StatusFail, "csi-node-drained": runner.StatusNotRun, "v2-manifests-accepted": runner.StatusPass},
			message: map[string]string{"operator-scaled-down": "kubectl -n rok-system scale statefulset rok-operator --replicas=0"}},
		{name: "a recorded logs output never passes", opts: gate, gate: runner.GateBlocked,
			outputs: map[string]rec{
				"operator-scaled-down":  operator(0),
				"csi-node-drained":      {code: 0, stdout: "[pod/rok-csi-node-0/csi] 2026-01-02T03:04:05.000000000Z drained\n"},
				"v2-manifests-accepted": {code: 0, stdout: "accepted: StatefulSet rok-system/rok-tools (apps/v1)\n"},
			},
			status: map[string]runner.Status{"operator-scaled-down": runner.StatusPass, "csi-node-drained": runner.StatusFail, "v2-manifests-accepted": runner.StatusPass}},
	})
}
