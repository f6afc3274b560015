// Command testcluster starts, reuses, reports and stops the project's local Kubernetes test
// cluster (see package internal/testcluster). It must run as root.
//
//	go run ./internal/testcluster/cmd/testcluster up [--kwok-nodes N]   # N: 100 by default; last line: kubeconfig path
//	go run ./internal/testcluster/cmd/testcluster env                   # export KUBECONFIG=...
//	go run ./internal/testcluster/cmd/testcluster status
//	go run ./internal/testcluster/cmd/testcluster down
//
// Progress goes to stderr; stdout carries only the results shown above.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/preflightkit/preflight/internal/testcluster"
)

// defaultKwokNodes is how many simulated nodes up ensures without --kwok-nodes: the project's
// cluster (test.sh, docs/testcluster.md) is one real node and 100 kwok nodes.
const defaultKwokNodes = 100

func main() {
	os.Exit(run())
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage: testcluster [flags] up|down|status|env

  up      start the cluster, or reuse the running one; prints the admin kubeconfig path last
  down    stop the cluster: no process, mount or network namespace is left
  status  report each component, the version and the nodes
  env     print "export KUBECONFIG=<admin kubeconfig>"

flags:
`)
	flag.PrintDefaults()
}

func run() int {
	kwok := flag.Int("kwok-nodes", defaultKwokNodes, "up: ensure this many simulated (kwok) nodes (0: add none)")
	stateDir := flag.String("state-dir", "", "state directory (default $PREFLIGHT_TESTCLUSTER_STATE or "+testcluster.DefaultStateDir+")")
	cacheDir := flag.String("cache-dir", "", "binary cache (default $PREFLIGHT_TESTCLUSTER_CACHE or "+testcluster.DefaultCacheDir+")")
	quiet := flag.Bool("q", false, "log warnings only")
	flag.Usage = usage
	// Accept flags after the subcommand too: up --kwok-nodes 100.
	args := os.Args[1:]
	var sub string
	for i, a := range args {
		if len(a) > 0 && a[0] != '-' && (i == 0 || !needsValue(args[i-1])) {
			sub = a
			args = append(append([]string{}, args[:i]...), args[i+1:]...)
			break
		}
	}
	if err := flag.CommandLine.Parse(args); err != nil {
		return 2
	}
	if sub == "" || flag.NArg() > 0 {
		usage()
		return 2
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	opts := testcluster.Options{
		KwokNodes: *kwok,
		StateDir:  *stateDir,
		CacheDir:  *cacheDir,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch sub {
	case "up":
		start := time.Now()
		c, err := testcluster.Up(ctx, opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "testcluster: up in %s\n", time.Since(start).Round(100*time.Millisecond))
		fmt.Println(c.Kubeconfig)
	case "down":
		if err := testcluster.Down(ctx, opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "status":
		r, err := testcluster.Status(ctx, opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		state := "stopped"
		if r.Running {
			state = "running"
		}
		fmt.Printf("cluster: %s\nkubeconfig: %s\nversion: %s\nnodes: %d (%d ready, %d kwok)\n",
			state, r.Kubeconfig, r.Version, r.Nodes, r.ReadyNodes, r.KwokNodes)
		names := make([]string, 0, len(r.Components))
		for n := range r.Components {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if pid := r.Components[n]; pid != 0 {
				fmt.Printf("  %-24s pid %d\n", n, pid)
			} else {
				fmt.Printf("  %-24s not running\n", n)
			}
		}
		if !r.Running {
			return 3
		}
	case "env":
		r, err := testcluster.Status(ctx, opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if !r.Running {
			fmt.Fprintln(os.Stderr, "testcluster: the cluster is not running (run: testcluster up)")
			return 1
		}
		fmt.Printf("export KUBECONFIG=%s\n", r.Kubeconfig)
	default:
		usage()
		return 2
	}
	return 0
}

func needsValue(flagArg string) bool {
	switch flagArg {
	case "-kwok-nodes", "--kwok-nodes", "-state-dir", "--state-dir", "-cache-dir", "--cache-dir":
		return true
	}
	return false
}
