// Package celenv builds the one CEL environment every spec expression is compiled in.
//
// Two environments are built, once per process, and shared by every goroutine: one for `when`
// (the variables vars, app, phase, cluster and results) and one for result conditions (those
// plus status_code, stdout, stderr, error, output, node and duration). Both are Kubernetes'
// base environment (k8s.io/apiserver/pkg/cel/environment, at a pinned compatibility version)
// extended with the project's variables the way Kubernetes declares its own: the same language
// settings, libraries and library versions (semver, quantity, regex, lists, url, ip, cidr,
// format, and the authorization library, which no variable here can reach) and the same cost
// model, so that an expression a vendor already wrote for a ValidatingAdmissionPolicy or a CRD
// rule reads and costs the same here. `app` and `cluster` are declared object types (like a
// Kubernetes object's schema), so a misspelt field is a compile error with its position.
//
// Programs are planned in a third environment holding the same functions without the base
// environment's program options (see newRuntime), so that an expression whose cost is
// bounded can run without cost tracking. Kubernetes' cost model is extended to price string
// functions, regular expressions and list builders by what they do (cost.go), and every call
// of those functions, in every program, is priced from its arguments and refused before it
// runs when it would pass the per-call limit; it also checks the evaluation's context, so a
// time limit or a cancelled run stops an evaluation between two calls (guard.go).
package celenv
