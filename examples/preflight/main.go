// Command preflight is the thin binary over the preflight library: it runs a spec's
// requirements and prints the gate decision. Its implementation, and its documentation (flags,
// output, exit codes), is internal/cli; see also docs/cli.md.
//
// On SIGINT or SIGTERM the run's context is cancelled: running commands stop, the pods they
// created are deleted (bounded), and preflight exits 1. Further signals during that cleanup
// are ignored, so that it can finish.
//
// client-go logs through klog, which writes to stderr by itself (its "client-side throttling"
// lines during a run over many nodes, say). The binary routes klog into log/slog at warning
// level instead, like the library's own logs without -v: client-go's errors still show, its
// chatter does not.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/preflightkit/preflight/internal/cli"
)

func main() {
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
