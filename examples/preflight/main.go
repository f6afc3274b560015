// Command preflight is the thin binary over the preflight library: it runs a spec's
// requirements and prints the gate decision. Its implementation, and its documentation (flags,
// output, exit codes), is internal/cli; see also docs/cli.md.
//
// On SIGINT or SIGTERM the run's context is cancelled: running commands stop, the pods they
// created are deleted (bounded), and preflight exits 1. Further signals during that cleanup
// are ignored, so that it can finish.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/preflightkit/preflight/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
