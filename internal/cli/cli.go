package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes of the preflight command, those of the established preflight tool.
const (
	// ExitPass: the gate passes (every requirement passed, was skipped or was acknowledged).
	ExitPass = 0
	// ExitError: an internal error, the run could not be evaluated, or it was interrupted.
	ExitError = 1
	// ExitUsage: an invalid spec, bad flags or arguments, an acknowledgment that is not
	// allowed (a strict or unknown requirement).
	ExitUsage = 2
	// ExitFail: at least one requirement failed and was not acknowledged (or the gate is
	// blocked).
	ExitFail = 3
	// ExitWarn: only warnings remain unacknowledged.
	ExitWarn = 4
)

// exitError carries an exit code up from a subcommand. A nil err prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError returns an error that exits with ExitUsage and a usage hint.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// withCode wraps err so that it exits with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// app holds one invocation's streams and state.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	verbose bool
	// entered is set once a subcommand's own code runs: an error before that is a usage
	// error from cobra (unknown command or flag, wrong argument count).
	entered bool
	// code is the exit code a subcommand chose without an error (the gate's 3 and 4).
	code int
}

// Run runs the preflight command line with args (without the program name) and returns the
// exit code: ExitPass, ExitError, ExitUsage, ExitFail or ExitWarn. Results go to stdout;
// errors, usage hints and progress to stderr. When ctx is cancelled (Ctrl-C) a running
// check is stopped, its cluster objects are cleaned up (bounded by a grace period) and Run
// returns ExitError after printing "interrupted" on stderr. A panic (a bug) is not a crash:
// Run prints "internal error: " and the panic's message on stderr and returns ExitError, so
// that it is never mistaken for an invalid spec (a Go crash exits 2).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var a *app
	defer func() {
		if p := recover(); p != nil {
			verbose := a != nil && a.verbose
			reportPanic(stderr, p, verbose)
			code = ExitError
		}
	}()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	a = &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return a.exit(cmd, err)
}

// exit prints err (if any) and returns the exit code for it.
func (a *app) exit(cmd *cobra.Command, err error) int {
	if err == nil {
		return a.code
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		if !a.entered {
			// cobra rejected the command line before any subcommand ran.
			ee = &exitError{code: ExitUsage, err: err}
		} else {
			ee = &exitError{code: ExitError, err: err}
		}
	}
	if ee.err != nil {
		// Errors quote the spec, files, the cluster: shown with control characters escaped.
		fmt.Fprintf(a.stderr, "Error: %s\n", safeText(ee.err.Error(), true))
		var pe *panicError
		if a.verbose && errors.As(ee.err, &pe) {
			a.stderr.Write(pe.stack)
		}
	}
	if ee.code == ExitUsage && cmd != nil && !errors.Is(err, errInvalidSpec) {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return ee.code
}

// panicError is a panic recovered from a goroutine of the CLI, reported as an internal error.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("internal error: %v", e.value) }

// recovered turns a recovered panic value into a *panicError with the stack.
func recovered(p any) *panicError { return &panicError{value: p, stack: debug.Stack()} }

// reportPanic prints a recovered panic on stderr, with the stack when verbose. A stderr that
// panics too is given up on: the exit code still says what happened.
func reportPanic(stderr io.Writer, p any, verbose bool) {
	defer func() { _ = recover() }()
	pe, ok := p.(*panicError)
	if !ok {
		pe = recovered(p)
	}
	fmt.Fprintf(stderr, "Error: %s\n", safeText(pe.Error(), true))
	if verbose {
		stderr.Write(pe.stack)
	}
}

// errInvalidSpec marks errors about the spec (not the command line): they get no usage hint.
var errInvalidSpec = errors.New("invalid spec")

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "preflight",
		Short: "Decide whether an install or upgrade of a Kubernetes app may go ahead",
		Long: `preflight runs the requirements of a spec (YAML: custom_requirements plus Pod
templates) on this host and in the cluster of the current kubeconfig context, and returns a
gate decision: pass, needs acknowledgment, or blocked.

Exit codes: 0 pass, 1 internal error or interrupted, 2 invalid spec or usage,
3 at least one unacknowledged failure (or blocked), 4 only warnings remain.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Completion stays available as "preflight completion bash|zsh|fish|powershell".
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log the library's diagnostics (debug level) to stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%w", err)
	})
	root.AddCommand(
		a.runCommand(),
		a.evaluateCommand(),
		a.validateCommand(),
		a.schemaCommand(),
		a.versionCommand(),
		a.cleanupCommand(),
		a.rbacCommand(),
	)
	return root
}

// wrap marks the subcommand as entered before calling run, so that errors from run are not
// mistaken for cobra's usage errors.
func (a *app) wrap(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.entered = true
		if ctx := cmd.Context(); ctx != nil {
			a.ctx = ctx
		}
		return run(cmd, args)
	}
}

// logger returns the library's logger: warnings and errors to stderr, debug with -v.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// minArgs is cobra.MinimumNArgs with a usage error that names what is missing.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s: missing %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colorEnabled reports whether output to w may use colour: w is a terminal and NO_COLOR is
// unset or empty (https://no-color.org).
func colorEnabled(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}
