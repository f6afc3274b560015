// Package cli implements the preflight command line; examples/preflight only wires it.
//
// [Run] is the whole program: it parses args (flags may come before or after the spec
// paths, as with kubectl and helm), runs the subcommand and returns the process exit code
// (see [ExitPass] and the other exit codes). It never calls os.Exit and reads nothing but its
// arguments, stdin and the environment variables KUBECONFIG and NO_COLOR, so tests drive it
// with buffers.
//
// The subcommands bind their flags directly to the library's option structs
// (runner.Options, runner.CleanupOptions), helm style: every CLI feature is a library call.
package cli
