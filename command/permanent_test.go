package command

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/preflightkit/preflight/internal/podrun"
)

func TestPermanent(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no cluster", fmt.Errorf("the kubernetes command needs a cluster: %w", ErrNoCluster), true},
		{"permission denied", &PermissionError{Denied: []podrun.Permission{{Verb: "create", Resource: "pods"}}}, true},
		{"permission denied and unknown", &PermissionError{Denied: []podrun.Permission{{Verb: "create", Resource: "pods"}}, Unknown: []podrun.Permission{{Verb: "get", Resource: "pods"}}}, true},
		{"permission not verified", &PermissionError{Unknown: []podrun.Permission{{Verb: "get", Resource: "pods"}}, Errs: []error{errors.New("connection reset")}}, false},
		{"forbidden", fmt.Errorf("listing: %w", apierrors.NewForbidden(gr, "web", errors.New("no"))), true},
		{"admission refusal of a pod", &PodError{Reason: "Forbidden", Message: "exceeded quota"}, false},
		{"kind not served", fmt.Errorf("no kind %q: %w", "Gadget", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "x", Kind: "Gadget"}}), true},
		{"group/version not served", permanent(fmt.Errorf("resolving kind: %w", apierrors.NewNotFound(schema.GroupResource{}, "x/v1"))), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", field.ErrorList{field.Required(field.NewPath("spec"), "")}), true},
		{"bad request", apierrors.NewBadRequest("unable to parse requirement"), true},
		{"object not found", apierrors.NewNotFound(gr, "web"), false},
		{"server unavailable", apierrors.NewServiceUnavailable("etcd leader changed"), false},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), false},
		{"timeout", &TimeoutError{Cause: context.DeadlineExceeded}, false},
		{"unschedulable", &PodError{Reason: "Unschedulable"}, false},
		{"anything else", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Permanent(tt.err))
		})
	}
}
