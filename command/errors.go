package command

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/preflightkit/preflight/internal/podrun"
)

// The errors commands produce, matchable with errors.As and errors.Is. The runner keeps them
// in runner.RequirementResult.Err (and NodeResult.Err) of a decision.
type (
	// TimeoutError is a command that did not finish before its context ended: its timeout
	// passed (it wraps context.DeadlineExceeded, and the status code is CodeTimeout) or the
	// run was cancelled (context.Canceled). Fields: After (how long it ran), Pod and Progress
	// (for a pod: its name and what it was doing), Warning (the last Warning event about the
	// pod), Cause (the context's cause).
	TimeoutError = podrun.TimeoutError
	// PermissionError lists the permissions a cluster command lacks (Denied, with the
	// authorizer's Reasons) and those it could not verify (Unknown, with Errs). The scheduler,
	// logs and dry_run commands check their permissions before their first request; either
	// kind stops the command there.
	PermissionError = podrun.PermissionError
	// PodError is why a check pod could not produce a result, in the cluster's own words:
	// Pod and Node, Reason (the API's or the kubelet's: Unschedulable, ErrImagePull,
	// Forbidden, FailedCreatePodSandBox, ...) and Message. errors.Is matches its kind:
	// ErrUnschedulable, ErrImage, ErrAdmission or ErrSandbox.
	PodError = podrun.Failure
)

// The kinds of PodError, for errors.Is.
var (
	// ErrUnschedulable: the scheduler found no node for the pod.
	ErrUnschedulable = podrun.ErrUnschedulable
	// ErrImage: the pod's image could not be pulled or is invalid.
	ErrImage = podrun.ErrImage
	// ErrAdmission: the API server refused the pod (Pod Security, a quota, a webhook).
	ErrAdmission = podrun.ErrAdmission
	// ErrSandbox: the node could not create the pod's sandbox.
	ErrSandbox = podrun.ErrSandbox
)

// ErrNoCluster is matched (errors.Is) by the error of a cluster command, of cluster facts and
// of runner.Cleanup when the run was given no cluster configuration (runner.Options.Config is
// nil). A program with flags of its own can recognise it, and replace its text, to tell its
// users how to give one (the CLI: "pass --kubeconfig or set KUBECONFIG").
var ErrNoCluster = errors.New("no cluster configuration was given (runner.Options.Config is nil)")

// dataRoot is the root of the paths of a command's data errors.
var dataRoot = field.NewPath("data")

// invalid returns a data error at path p: a field.Required error when the message starts
// with "required: ", else a field.Invalid one. The loader shows the detail at p's line and
// column; the error's own text (for callers who Prepare commands themselves) is the
// Kubernetes form, "data.cmd: Invalid value: must not be empty".
func invalid(p *field.Path, format string, args ...any) *field.Error {
	msg := fmt.Sprintf(format, args...)
	if detail, ok := strings.CutPrefix(msg, "required: "); ok {
		return field.Required(p, detail)
	}
	return field.Invalid(p, field.OmitValueType{}, msg)
}
