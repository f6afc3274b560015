//go:build e2e

package upgrade_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/preflightkit/preflight/internal/testcluster"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// deleteWorkloads deletes the namespace's Deployments, StatefulSets and Jobs with their pods
// and waits until no pod is left, so that the namespace's own cleanup finds none.
func deleteWorkloads(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	bg := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground), GracePeriodSeconds: ptr.To[int64](0)}
	all := metav1.ListOptions{}
	assert.NoError(t, cs.AppsV1().Deployments(ns).DeleteCollection(ctx, bg, all))
	assert.NoError(t, cs.AppsV1().StatefulSets(ns).DeleteCollection(ctx, bg, all))
	assert.NoError(t, cs.BatchV1().Jobs(ns).DeleteCollection(ctx, bg, all))
	assert.NoError(t, waitFor(ctx, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, all)
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			_ = cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
		return len(pods.Items) == 0, nil
	}), "pods of the workloads deleted")
}

// sleepDeployment is a Deployment of one busybox pod that sleeps, pinned by nodeSelector.
func sleepDeployment(name string, nodeSelector map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  nodeSelector,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "main", Image: testcluster.BusyboxImage, Command: []string{"sleep", "3600"}}},
				},
			},
		},
	}
}

// kstatus on the real cluster: a retry waits for a Deployment to become available and passes
// once it does; a StatefulSet, a Job and custom resources get their kstatus too.
func TestKStatusWaitsForRollout(t *testing.T) {
	cfg := adminConfig(t)
	cs := client(t)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	group := "e2e" + token(t) + ".preflight.test"
	installCRD(t, dyn, group, "Database")
	ns := namespace(t) // after the CRD (see installCRD)
	t.Cleanup(func() { deleteWorkloads(t, cs, ns) })

	// The Deployment first asks for a node that does not exist: its pod stays Pending and
	// kstatus says InProgress, until the test moves it to the real node after the second
	// attempt.
	realNode := map[string]string{"kubernetes.io/hostname": testcluster.RealNodeName}
	if !cluster.Local() {
		realNode = map[string]string{"kubernetes.io/os": "linux"}
	}
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, sleepDeployment("web", map[string]string{"kubernetes.io/hostname": "no-such-node"}), metav1.CreateOptions{})
	require.NoError(t, err)
	ss := statefulSet("db", "db", 1)
	_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, ss, metav1.CreateOptions{})
	require.NoError(t, err)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers:                    []corev1.Container{{Name: "main", Image: testcluster.BusyboxImage, Command: []string{"true"}}},
			}},
		},
	}
	onRealNode(&job.Spec.Template.Spec)
	_, err = cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)

	// Custom resources: kstatus' generic rules (observedGeneration, Ready, Stalled).
	dbs := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "databases"}
	custom := func(name, label string, conditions ...map[string]any) *unstructured.Unstructured {
		conds := make([]any, len(conditions))
		for i, c := range conditions {
			conds[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": group + "/v1", "kind": "Database",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"state": label}},
			"status":   map[string]any{"observedGeneration": int64(1), "conditions": conds},
		}}
	}
	for _, obj := range []*unstructured.Unstructured{
		custom("main", "ready", map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled"}),
		custom("replica", "ready", map[string]any{"type": "Ready", "status": "True", "reason": "Reconciled"}),
		custom("broken", "stalled", map[string]any{"type": "Stalled", "status": "True", "reason": "BadConfig", "message": "spec.storage is too small"}),
	} {
		require.NoError(t, waitFor(ctx, func() (bool, error) { // the CRD is established asynchronously
			_, err := dyn.Resource(dbs).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
			return err == nil, err
		}), "creating Database %s", obj.GetName())
	}

	src := fmt.Sprintf(`
custom_requirements:
- id: web-rolled-out
  retry: {interval: 1s, timeout: 4m}
  command: {id: kubernetes, data: {api_version: apps/v1, kind: Deployment, name: web}}
  results:
  - status: success
    message_expr: '"web: " + kstatus(output).message'
    condition: {status_code: 0, expr: 'kstatus(output).status == "Current"'}
  - status: error
    message_expr: '"web is " + kstatus(output).status + ": " + kstatus(output).message'
    condition: {status_code: 0}
  - status: error
    message: web not found
- id: db-rolled-out
  retry: {interval: 1s, timeout: 4m}
  command: {id: kubernetes, data: {api_version: apps/v1, kind: StatefulSet, name: db}}
  results:
  - status: success
    message_expr: 'kstatus(output).message'
    condition: {status_code: 0, expr: 'kstatus(output).status == "Current"'}
  - status: error
    message_expr: 'kstatus(output).status + ": " + kstatus(output).message'
- id: migrate-completed
  retry: {interval: 1s, timeout: 4m}
  command: {id: kubernetes, data: {api_version: batch/v1, kind: Job, name: migrate}}
  results:
  - status: success
    message_expr: 'kstatus(output).message'
    condition: {status_code: 0, expr: 'kstatus(output).status == "Current" && kstatus(output).message.startsWith("Job Completed")'}
  - status: error
    message_expr: 'kstatus(output).status + ": " + kstatus(output).message'
- id: databases-ready
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Database, label_selector: state=ready}}
  results:
  - status: success
    message: every ready database is Current
    condition: {expr: 'size(output.items) == 2 && output.items.all(d, kstatus(d).status == "Current")'}
  - status: error
    message: not every database is Current
- id: database-broken
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Database, name: broken}}
  results:
  - status: success
    message_expr: 'kstatus(output).status + ": " + kstatus(output).message'
    condition: {expr: 'kstatus(output).status == "Failed"'}
  - status: error
    message: the stalled database is not Failed
- id: all-databases
  command: {id: kubernetes, data: {api_version: %[1]s/v1, kind: Database}}
  results:
  - status: success
    message: every database is Current
    condition: {expr: 'output.items.all(d, kstatus(d).status == "Current")'}
  - status: warn
    message: a database is not Current
`, group)
	spec, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "kstatus.yaml", Reader: strings.NewReader(src)})
	require.NoError(t, err)

	// Move the Deployment to the real node after its second attempt (from a goroutine: OnEvent
	// must return quickly).
	var moved sync.Once
	movedDone := make(chan error, 1)
	var rec recorder
	d := run(t, spec, runner.Options{Namespace: ns, OnEvent: func(e runner.Event) {
		rec.on(e)
		if e.Type == runner.EventAttempt && e.RequirementID == "web-rolled-out" && e.Attempt == 2 {
			moved.Do(func() {
				go func() {
					patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeSelector":%s}}}}`, mustJSON(t, realNode))
					_, err := cs.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
					movedDone <- err
				}()
			})
		}
	}})
	require.NoError(t, <-movedDone)
	got := byID(d)

	web := got["web-rolled-out"]
	assert.Equal(t, runner.StatusPass, web.Status, "%s %s", web.Message, web.Error)
	assert.Contains(t, web.Message, "web: Deployment is available")
	attempts, _ := rec.attempts("web-rolled-out")
	require.GreaterOrEqual(t, len(attempts), 3, "it waited for the rollout")
	first := attempts[0].Result
	assert.Equal(t, runner.StatusFail, first.Status)
	assert.True(t, strings.HasPrefix(first.Message, "web is InProgress: "), first.Message)

	for _, id := range []string{"db-rolled-out", "migrate-completed", "databases-ready", "database-broken"} {
		assert.Equal(t, runner.StatusPass, got[id].Status, "%s: %s %s", id, got[id].Message, got[id].Error)
	}
	// The API server defaults a RollingUpdate partition of 0, which kstatus reports as such.
	assert.Regexp(t, `^(Partition rollout complete\. updated: 1|All replicas scheduled as expected\. Replicas: 1)$`, got["db-rolled-out"].Message)
	assert.Contains(t, got["migrate-completed"].Message, "Job Completed. succeeded: 1/1")
	assert.Equal(t, "Failed: spec.storage is too small", got["database-broken"].Message)
	assert.Equal(t, runner.StatusWarn, got["all-databases"].Status, "the stalled one is not Current")
}

// Retries stop at once on errors that cannot change, on the real cluster: a kind the cluster
// does not serve (in a served group, and in a group that does not exist) fails at the first
// attempt instead of waiting out a 10-minute retry.
func TestRetryStopsOnKindNotServed(t *testing.T) {
	ns := namespace(t)
	src := `
custom_requirements:
- id: gadgets
  retry: {interval: 1s, timeout: 10m}
  command: {id: kubernetes, data: {api_version: apps/v1, kind: Gadget}}
  results:
  - status: success
    condition: {status_code: 0}
- id: widgets
  retry: {interval: 1s, timeout: 10m}
  command: {id: kubernetes, data: {api_version: nothing-` + token(t) + `.preflight.test/v1, kind: Widget}}
  results:
  - status: success
    condition: {status_code: 0}
`
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{}, requirement.Source{Name: "kinds.yaml", Reader: strings.NewReader(src)})
	require.NoError(t, err)
	d := run(t, spec, runner.Options{Namespace: ns})
	for _, r := range d.Requirements {
		assert.Equal(t, runner.StatusFail, r.Status, r.ID)
		assert.Equal(t, 1, r.Attempts, "%s: one attempt: %s", r.ID, r.Error)
		require.NotEmpty(t, r.Notes, r.ID)
		assert.Contains(t, r.Notes[len(r.Notes)-1], "retry stopped at attempt 1: the error cannot change by retrying", r.ID)
	}
	assert.Contains(t, byID(d)["gadgets"].Error, `no kind "Gadget" in group/version "apps/v1"`)
}
