// Package celenv builds the one CEL environment every spec expression is compiled in.
package celenv
