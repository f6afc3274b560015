// Package celenv builds the one CEL environment every spec expression is compiled in.
//
// Two environments are built, once per process, and shared by every goroutine: one for `when`
// (the variables vars, app, phase, cluster and results) and one for result conditions (those
// plus status_code, stdout, stderr, error, output, node and duration). Both mirror the base
// environment of k8s.io/apiserver/pkg/cel/environment: the same language settings, the same
// pinned library versions, the Kubernetes function libraries (semver, quantity, regex, lists,
// url, ip, cidr, format) and the Kubernetes cost model, so that an expression a vendor already
// wrote for a ValidatingAdmissionPolicy or a CRD rule reads and costs the same here. The
// authorization libraries (authorizer, authorizer selectors) and JSON patch are left out: they
// have no meaning for a preflight check.
package celenv
