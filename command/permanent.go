package command

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Permanent reports whether err, the error of a command that could not produce a result,
// cannot change while a requirement retries, so that retrying is pointless and the runner
// stops at once instead of waiting out the retry timeout. It is the one list of such errors:
//
//   - ErrNoCluster: the run has no cluster configuration, and a run's options do not change;
//   - a *PermissionError with a denial (Denied): the identity may not make a call the command
//     needs (a permission that could not be verified, Unknown only, may be a passing network
//     failure, and is retried);
//   - Forbidden from the API server (the identity was refused a request), except an admission
//     refusal of a check pod (ErrAdmission: a quota may free up);
//   - a kind the cluster does not serve: discovery has no such kind in the group/version
//     (meta.IsNoMatchError, after the kubernetes command's fresh discovery), or the
//     group/version itself is not found;
//   - Invalid or BadRequest from the API server: the request itself is wrong (a malformed
//     label selector, a field the server rejects), and the same request will be refused again.
//
// Fixing any of these takes a person (a kubeconfig, an RBAC grant, a CRD, a spec change), and
// the run reports it at once rather than minutes later.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var pe *PermissionError
	var marked *permanentError
	switch {
	case errors.Is(err, ErrNoCluster), errors.As(err, &marked):
		return true
	case errors.As(err, &pe):
		return len(pe.Denied) > 0
	case errors.Is(err, ErrAdmission):
		return false
	case meta.IsNoMatchError(err):
		return true
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return true
	}
	return false
}

// permanentError marks an error that Permanent reports (one that no API status says is
// permanent, such as discovery's answer that a group/version is not served).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as permanent.
func permanent(err error) error { return &permanentError{err} }
