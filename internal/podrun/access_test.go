package podrun

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestCheckPermissionsGroupAndNamespace: a permission's group and own namespace reach the
// SelfSubjectAccessReview, and a denial names them.
func TestCheckPermissionsGroupAndNamespace(t *testing.T) {
	cs := fake.NewClientset()
	var mu sync.Mutex
	var seen []string
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := r.Spec.ResourceAttributes
		mu.Lock()
		seen = append(seen, ra.Verb+" "+ra.Group+"/"+ra.Resource+" ns="+ra.Namespace)
		mu.Unlock()
		r.Status.Allowed = !(ra.Group == "apps" && ra.Namespace == "other")
		return true, r, nil
	})
	err := CheckPermissions(context.Background(), cs, "run-ns", []Permission{
		{Verb: "patch", Group: "apps", Resource: "statefulsets"},
		{Verb: "patch", Group: "apps", Resource: "statefulsets", Namespace: "other"},
		{Verb: "create", Resource: "configmaps", Namespace: "other"},
		{Verb: "patch", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Cluster: true},
	})
	sort.Strings(seen)
	assert.Equal(t, []string{
		"create /configmaps ns=other",
		"patch apiextensions.k8s.io/customresourcedefinitions ns=",
		"patch apps/statefulsets ns=other",
		"patch apps/statefulsets ns=run-ns",
	}, seen)
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, err, `insufficient permissions in namespace "run-ns": cannot patch statefulsets.apps in namespace "other"; nothing was created`)
}

// A PermissionError built by a caller with fewer reasons or errors than permissions still
// prints every permission instead of panicking.
func TestPermissionErrorShortReasons(t *testing.T) {
	e := &PermissionError{
		Namespace: "ns",
		Denied:    []Permission{{Verb: "create", Resource: "pods"}, {Verb: "get", Resource: "pods", Subresource: "log"}},
		Reasons:   []string{"no rule"},
		Unknown:   []Permission{{Verb: "list", Resource: "nodes", Cluster: true}},
	}
	got := e.Error()
	for _, want := range []string{"cannot create pods (no rule)", "cannot get pods/log", "could not verify permission to list nodes"} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, want it to contain %q", got, want)
		}
	}
}
