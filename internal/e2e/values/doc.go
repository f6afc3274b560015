// Package values proves on the project's real cluster (build tag e2e) what issue 10 made of
// real vendor specs: a spec parameterized by --set reaches a real address and a real
// directory through K_expr keys, a Secret's values appear nowhere in the CLI's text or JSON
// output or the library's logs (the opt-in excepted, which only CEL sees), and a list across
// all namespaces needs the cluster-scope permission.
//
// The package holds only tests.
package values
