// Command console is an example admin console: a small web server whose page runs a spec
// through runner/gatehttp, shows every requirement live, takes acknowledgments and holds a
// Deploy button until the gate allows it.
//
//	go run ./examples/console --spec FILE [--addr 127.0.0.1:8080] [--kubeconfig F] [-n NS]
//
// The page, its CSS and its JavaScript are embedded (no frontend framework, no external
// resource). The server adds two endpoints of its own to gatehttp's: GET /api/spec (the
// requirements, to show them before a run) and POST /api/deploy, which checks on the server
// that the run allows deploy (gatehttp.Handler.DeployAllowed) whatever the page shows. This
// example deploys nothing: a real console would run its upgrade there. It has no
// authentication: it listens on loopback by default; put a real console's behind its login.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
	"github.com/preflightkit/preflight/runner/gatehttp"
)

// Exit codes: as the preflight binary's for errors.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// flags are the command line.
type flags struct {
	specs      []string
	addr       string
	kubeconfig string
	kubeCtx    string
	namespace  string
	timeout    time.Duration
	retention  time.Duration
	maxRuns    int
	maxRunning int
	verbose    bool
}

// run is main without the process: it serves until ctx ends, then cancels the runs (their
// pods are deleted) and returns the exit code. When listening is not nil it receives the
// address the server listens on.
func run(ctx context.Context, args []string, stderr io.Writer, listening func(addr string)) int {
	var f flags
	fs := pflag.NewFlagSet("console", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringArrayVar(&f.specs, "spec", nil, "spec file to run (repeatable; required)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster; none: host commands only)")
	fs.StringVar(&f.kubeCtx, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "namespace of cluster commands (default: the kubeconfig context's, else default)")
	fs.DurationVar(&f.timeout, "timeout", 0, "deadline of each run (0: none)")
	fs.DurationVar(&f.retention, "retention", gatehttp.DefaultRetention, "how long a finished run is kept")
	fs.IntVar(&f.maxRuns, "max-runs", gatehttp.DefaultMaxRuns, "how many finished runs are kept")
	fs.IntVar(&f.maxRunning, "max-running", gatehttp.DefaultMaxRunning, "how many runs may run at once")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "debug log on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(f.specs) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: console --spec FILE [--addr 127.0.0.1:8080] [--kubeconfig F] [-n NS]")
		return exitUsage
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	spec, err := requirement.LoadFiles(ctx, requirement.LoadOptions{}, f.specs...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	cfg, ns, err := loadKube(f.kubeconfig, f.kubeCtx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if f.namespace != "" {
		ns = f.namespace
	}
	if cfg == nil && spec.NeedsCluster() {
		logger.Warn("no usable kubeconfig: the spec's cluster commands will fail")
	}
	names := make([]string, len(f.specs))
	for i, p := range f.specs {
		names[i] = filepath.Base(p)
	}
	c, err := newConsole(spec, strings.Join(names, ", "), gatehttp.Options{
		Runner:     runner.Options{Config: cfg, Namespace: ns, Timeout: f.timeout},
		Retention:  f.retention,
		MaxRuns:    f.maxRuns,
		MaxRunning: f.maxRunning,
		Logger:     logger,
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("console listening", "url", "http://"+ln.Addr().String()+"/", "spec", strings.Join(f.specs, ", "), "requirements", len(spec.Requirements))
	if listening != nil {
		listening(ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Error("serving", "error", err)
		code = exitError
	}
	// Cancel the runs first (their event streams end), then stop the server.
	sctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.gate.Close(sctx); err != nil {
		logger.Error("cancelling the runs", "error", err)
		code = exitError
	}
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("stopping the server", "error", err)
		code = exitError
	}
	return code
}

// loadKube loads the kubeconfig with client-go's loading rules, as the preflight binary
// does: nothing configured means no cluster (host commands only); an explicit --kubeconfig or
// --context that cannot be used is an error.
func loadKube(path, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if path != "" || context != "" {
			return nil, "", fmt.Errorf("cannot use the cluster named by --kubeconfig/--context: %w", err)
		}
		return nil, "", nil
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		ns = ""
	}
	return cfg, ns, nil
}
