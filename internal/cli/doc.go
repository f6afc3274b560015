// Package cli implements the preflight command line; examples/preflight only wires it.
package cli
