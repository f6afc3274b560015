package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/internal/podrun"
	"github.com/preflightkit/preflight/internal/readctx"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// cleanupGrace bounds how long an interrupted run may take to clean up (delete its pods)
// before Run gives up waiting and returns. A variable so tests can shorten it.
var cleanupGrace = 30 * time.Second

// phaseValue is the value of --phase, bound to runner.Options.Phase.
type phaseValue struct{ p *runner.Phase }

var _ pflag.Value = phaseValue{}

func (v phaseValue) String() string {
	if v.p == nil || *v.p == "" {
		return string(runner.Install)
	}
	return string(*v.p)
}

// Set accepts install, upgrade, post-install or post-upgrade.
func (v phaseValue) Set(s string) error {
	if p := runner.Phase(s); p.Valid() {
		*v.p = p
		return nil
	}
	return fmt.Errorf("must be %s, %s, %s or %s, not %q", runner.Install, runner.Upgrade, runner.PostInstall, runner.PostUpgrade, s)
}

func (v phaseValue) Type() string { return "phase" }

// byteSize is the value of --output-limit: a size in bytes, as an integer or a Kubernetes
// quantity (4Mi, 10M), bound to an int.
type byteSize struct{ n *int }

var _ pflag.Value = byteSize{}

func (v byteSize) String() string {
	if v.n == nil {
		return "0"
	}
	return strconv.Itoa(*v.n)
}

// Set accepts a non-negative integer or quantity of bytes that fits an int.
func (v byteSize) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("want a size in bytes, such as 4194304 or 4Mi: %q", s)
	}
	n, ok := q.AsInt64()
	if !ok || n < 0 || int64(int(n)) != n {
		return fmt.Errorf("want a whole number of bytes from 0 up, such as 4194304 or 4Mi: %q", s)
	}
	*v.n = int(n)
	return nil
}

func (v byteSize) Type() string { return "size" }

// runFlags are the flags of run and evaluate, bound directly to runner.Options.
type runFlags struct {
	opts   runner.Options
	sets   []string
	values []string
	output outputFormat
	quiet  bool
	kube   kubeFlags
}

func (rf *runFlags) bind(f *pflag.FlagSet) {
	rf.output = outputText
	rf.bindVars(f)
	f.StringSliceVar(&rf.opts.Acknowledge, "ack", nil, "acknowledge a failed or warning requirement by `id` (repeatable or comma-separated; strict ones cannot be acknowledged)")
	f.StringSliceVar(&rf.opts.AcknowledgeWarnings, "ack-warning", nil, "accept the warnings (never the failures) of a requirement by `id`, strict ones included (repeatable or comma-separated)")
	f.VarP(&rf.output, "output", "o", "output format: text or json")
	f.IntVar(&rf.opts.Parallel, "parallel", 0, fmt.Sprintf("how many host commands (exec, http, tcp) run at once (0 means %d); cluster commands are bounded by the run's pod concurrency and the client's QPS instead", runner.DefaultParallel))
	f.DurationVar(&rf.opts.Timeout, "timeout", 0, "deadline of the whole run, e.g. 5m (0 means none; each command keeps its own timeout)")
	f.BoolVarP(&rf.quiet, "quiet", "q", false, "no progress on stderr")
	f.StringVarP(&rf.opts.Namespace, "namespace", "n", "", "namespace for cluster commands (default: the context's namespace, else default)")
	f.Float32Var(&rf.opts.QPS, "qps", 0, fmt.Sprintf("queries per second to the API server (0 means %d)", podrun.DefaultQPS))
	f.IntVar(&rf.opts.Burst, "burst", 0, fmt.Sprintf("burst of queries to the API server (0 means %d)", podrun.DefaultBurst))
	f.IntVar(&rf.opts.MaxConcurrentPods, "max-pods", 0, fmt.Sprintf("how many pods of the run exist at once, and how many cluster commands run at once (0 means %d)", podrun.DefaultMaxConcurrentPods))
	rf.kube.bind(f)
}

// bindVars binds what CEL sees of the caller (vars, phase, versions), as run takes them.
func (rf *runFlags) bindVars(f *pflag.FlagSet) {
	f.StringArrayVar(&rf.sets, "set", nil, "set a CEL vars value, `key=value` (repeatable; a.b=c nests, a=1,b=2 sets two, list={x,y}; true/false/null/integers are typed)")
	f.StringArrayVarP(&rf.values, "values", "f", nil, "YAML `file` of CEL vars values (repeatable, merged in order; --set wins; - reads stdin)")
	f.Var(phaseValue{&rf.opts.Phase}, "phase", "where the run stands: install or upgrade (before it), post-install or post-upgrade (after it to verify it) (CEL phase)")
	f.StringVar(&rf.opts.AppVersion, "app-version", "", "`version` being installed (CEL app.version)")
	f.StringVar(&rf.opts.PreviousVersion, "previous-version", "", "`version` currently installed, for upgrades (CEL app.previous_version)")
}

// options completes rf.opts: vars, cluster, logger. It prints a note on stderr when there is
// no cluster and the spec needs one.
func (a *app) options(rf *runFlags, spec *requirement.Spec) (runner.Options, error) {
	opts := rf.opts
	vars, err := buildVars(a.ctx, a.stdin, rf.values, rf.sets)
	if err != nil {
		if a.ctx.Err() != nil {
			return opts, withCode(ExitError, fmt.Errorf("interrupted while reading --values"))
		}
		return opts, usageError("%w", err)
	}
	opts.Vars = vars
	cl, err := rf.kube.load()
	if err != nil {
		return opts, err
	}
	opts.Config = cl.config
	if opts.Namespace == "" {
		opts.Namespace = cl.namespace
	}
	if cl.config == nil && spec.NeedsCluster() {
		fmt.Fprintf(a.stderr, "note: running without a cluster, cluster commands will fail: %s\n", safeText(cl.note, false))
	}
	opts.Logger = a.logger()
	return opts, nil
}

// optionFlags names the flag that sets each runner option.
var optionFlags = map[string]string{
	"Parallel": "--parallel", "Timeout": "--timeout", "QPS": "--qps", "Burst": "--burst",
	"MaxConcurrentPods": "--max-pods", "Phase": "--phase", "OutputLimit": "--output-limit",
	"Acknowledge": "--ack", "AcknowledgeWarnings": "--ack-warning",
	"AppVersion": "--app-version", "PreviousVersion": "--previous-version",
}

// flagErrors rewrites the runner's *OptionErrors (bad values, acknowledgments the spec cannot
// take) in terms of the flags that set them, as a usage error (exit 2). It returns nil when
// err is not made of option errors only.
func flagErrors(err error) error {
	var list []error
	for _, e := range unjoin(err) {
		var oe *runner.OptionError
		if !errors.As(e, &oe) {
			return nil
		}
		flag := optionFlags[oe.Option]
		if flag == "" {
			flag = oe.Option
		}
		list = append(list, fmt.Errorf("%s %s: %s", flag, oe.Value, oe.Reason))
	}
	if len(list) == 0 {
		return nil
	}
	return withCode(ExitUsage, errors.Join(list...))
}

// unjoin returns the errors joined in err (errors.Join), or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (a *app) runCommand() *cobra.Command {
	rf := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run SPEC... [flags]",
		Short: "Run a spec's requirements and print the gate decision",
		Long: `Run loads the spec files (- reads stdin), runs every requirement whose when holds, and
prints one line per requirement and the gate decision. Flags may come before or after
the spec paths.

Exit codes: 0 pass, 1 internal error or interrupted, 2 invalid spec or usage (including
--ack of a strict or unknown requirement), 3 at least one unacknowledged failure or a
blocked gate, 4 only warnings remain. Acknowledged requirements no longer count.`,
		Example: `  preflight run examples/host-checks.yaml
  preflight run spec.yaml --phase upgrade --app-version 2.1.0 --previous-version 1.9.3
  preflight run spec.yaml --set tier=prod --values values.yaml --ack memory,disk -o json`,
		Args: minArgs(1, "SPEC (a spec file, or - for stdin)"),
	}
	rf.bind(cmd.Flags())
	cmd.Flags().Var(byteSize{&rf.opts.OutputLimit}, "output-limit", fmt.Sprintf("bytes of stdout and of stderr kept of each command, such as 4Mi (0 means %d); output past it is cut and a success judged on the output is refused", command.DefaultOutputLimit))
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		return a.runSpec(rf, args, func(spec *requirement.Spec) (decideFunc, error) {
			return func(ctx context.Context, r *runner.Runner) (*runner.Decision, error) {
				return r.Run(ctx, spec)
			}, nil
		})
	})
	return cmd
}

func (a *app) evaluateCommand() *cobra.Command {
	rf := &runFlags{}
	var outputs string
	cmd := &cobra.Command{
		Use:   "evaluate SPEC... --outputs RECORDED.json [flags]",
		Short: "Re-analyse recorded command outputs (from run -o json) without running anything",
		Long: `Evaluate loads the spec and the decision JSON an earlier "preflight run -o json" printed,
and analyses the recorded command outputs again with the spec's results and the given
vars, phase and versions, without running any command. Output and exit codes are those
of run.`,
		Example: `  preflight run spec.yaml -o json > recorded.json
  preflight evaluate spec.yaml --outputs recorded.json --set tier=prod`,
		Args: minArgs(1, "SPEC (a spec file, or - for stdin)"),
	}
	rf.bind(cmd.Flags())
	cmd.Flags().StringVar(&outputs, "outputs", "", "the recorded decision JSON (from run -o json; - reads stdin)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		if outputs == "" {
			return usageError("evaluate needs --outputs RECORDED.json (the output of preflight run -o json)")
		}
		if outputs == "-" && containsStdin(args) {
			return usageError("the spec and --outputs cannot both be read from stdin")
		}
		return a.runSpec(rf, args, func(spec *requirement.Spec) (decideFunc, error) {
			recorded, err := a.readDecision(outputs)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, r *runner.Runner) (*runner.Decision, error) {
				return r.Evaluate(ctx, spec, recorded)
			}, nil
		})
	})
	return cmd
}

// readDecision reads a decision JSON strictly: unknown fields are errors, and so is an id
// listed twice (which of the two would count is not knowable).
func (a *app) readDecision(name string) (*runner.Decision, error) {
	data, err := readInput(a.ctx, a.stdin, name, maxRecordedBytes)
	if err != nil {
		if a.ctx.Err() != nil {
			return nil, interrupted("the recorded outputs", name)
		}
		return nil, usageError("--outputs: %w", err)
	}
	if len(data) > maxRecordedBytes {
		return nil, usageError("--outputs %s: larger than %d bytes", name, maxRecordedBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d runner.Decision
	if err := dec.Decode(&d); err != nil {
		return nil, usageError("--outputs %s: not a decision from preflight run -o json: %w", name, err)
	}
	seen := make(map[string]int, len(d.Requirements))
	for i, r := range d.Requirements {
		if j, dup := seen[r.ID]; dup {
			return nil, usageError("--outputs %s: requirement %q is recorded twice (requirements[%d] and requirements[%d]); a decision from preflight run -o json lists each requirement once", name, r.ID, j, i)
		}
		seen[r.ID] = i
	}
	return &d, nil
}

// maxRecordedBytes bounds the recorded decision JSON (outputs are capped per command, but a
// spec may have many requirements and nodes).
const maxRecordedBytes = 64 << 20

// decideFunc is what run and evaluate do with the runner.
type decideFunc func(context.Context, *runner.Runner) (*runner.Decision, error)

// runSpec loads the spec at paths, lets prepare choose what to do with it, completes the
// options and decides.
func (a *app) runSpec(rf *runFlags, paths []string, prepare func(*requirement.Spec) (decideFunc, error)) error {
	if n := countStdin(paths) + countStdin(rf.values); n > 1 {
		return usageError("stdin (-) can be read once: it is named %d times among the spec paths and --values", n)
	}
	spec, err := a.loadSpec(paths)
	if err != nil {
		return err
	}
	do, err := prepare(spec)
	if err != nil {
		return err
	}
	opts, err := a.options(rf, spec)
	if err != nil {
		return err
	}
	return a.decide(rf, spec, opts, do)
}

// decide runs do (Run or Evaluate) with progress, handles interruption, prints the decision
// and sets the exit code.
func (a *app) decide(rf *runFlags, spec *requirement.Spec, opts runner.Options, do decideFunc) error {
	var prog *progress
	if !rf.quiet {
		prog = newProgress(a.stderr, len(spec.Requirements), isTerminal(a.stderr))
		opts.OnEvent = prog.event
	}
	r, err := runner.New(opts)
	if err != nil {
		if ferr := flagErrors(err); ferr != nil {
			return ferr
		}
		return withCode(ExitUsage, err)
	}
	type result struct {
		d   *runner.Decision
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A panic here would crash the process (exit 2, as for an invalid spec): it is an
		// internal error of the run.
		defer func() {
			if p := recover(); p != nil {
				ch <- result{nil, recovered(p)}
			}
		}()
		d, err := do(a.ctx, r)
		ch <- result{d, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-a.ctx.Done():
		if prog != nil {
			prog.done()
		}
		fmt.Fprintf(a.stderr, "interrupted: stopping and cleaning up (up to %s)...\n", cleanupGrace)
		select {
		case res = <-ch:
		case <-time.After(cleanupGrace):
			return withCode(ExitError, fmt.Errorf("interrupted; cleanup did not finish within %s: run 'preflight cleanup' to remove leftover pods", cleanupGrace))
		}
	}
	if prog != nil {
		prog.done()
		if p := prog.panicked(); p != nil {
			return withCode(ExitError, p)
		}
	}
	var pe *panicError
	if errors.As(res.err, &pe) {
		return withCode(ExitError, pe)
	}
	interrupted := a.ctx.Err() != nil
	if res.d == nil {
		switch {
		case interrupted && (res.err == nil || errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded)):
			return withCode(ExitError, errors.New("interrupted"))
		case interrupted:
			return withCode(ExitError, fmt.Errorf("interrupted: %w", res.err))
		case flagErrors(res.err) != nil:
			return flagErrors(res.err)
		case res.err != nil:
			return withCode(ExitError, fmt.Errorf("the run could not be evaluated: %w", res.err))
		}
		return withCode(ExitError, errors.New("the run returned no decision"))
	}
	// A decision comes back even from a run cut short (--timeout, Ctrl-C): what did not finish
	// failed and the gate is blocked. Print it, so the caller sees how far it got.
	if err := a.print(rf.output, res.d); err != nil {
		return withCode(ExitError, err)
	}
	if interrupted {
		// The caller asked to stop: the decision is incomplete, whatever it says.
		return withCode(ExitError, errors.New("interrupted"))
	}
	if res.err != nil {
		// The run's own deadline (--timeout) passed: the decision stands (blocked) and its
		// exit code applies; say why on stderr.
		fmt.Fprintf(a.stderr, "Error: %s\n", safeText(cliWords(res.err.Error()), true))
	}
	a.code = exitCode(res.d)
	return nil
}

// print writes d to stdout in format, in the CLI's words (reword).
func (a *app) print(format outputFormat, d *runner.Decision) error {
	reword(d)
	if format == outputJSON {
		return writeDecisionJSON(a.stdout, d)
	}
	return writeText(a.stdout, d, colorEnabled(a.stdout), terminalWidth(a.stdout))
}

// exitCode maps a decision to ExitPass, ExitFail or ExitWarn. It takes the worse of the gate
// and the requirements' statuses, so an inconsistent decision never passes.
func exitCode(d *runner.Decision) int {
	var fail, warn bool
	for _, r := range d.Requirements {
		// An acknowledged requirement no longer counts; a strict one can only have had its
		// warning accepted (--ack-warning), never a failure.
		if r.Acknowledged && (!r.Strict || r.Status == runner.StatusWarn) {
			continue
		}
		switch r.Status {
		case runner.StatusFail:
			fail = true
		case runner.StatusWarn:
			warn = true
		case runner.StatusPass, runner.StatusSkipped:
		default:
			fail = true // an unknown status never passes
		}
	}
	switch {
	case fail || d.Gate == runner.GateBlocked:
		return ExitFail
	case warn:
		return ExitWarn
	case d.Gate == runner.GatePass:
		return ExitPass
	}
	return ExitFail // needs_ack with nothing left to acknowledge, or an unknown gate
}

// loadSpec loads the spec files ("-" is stdin). Any problem is an invalid spec (exit 2),
// printed with every problem's location. The loader reads the sources under its limit on all
// of them together (Limits.MaxBytes), and a read that never ends gives way to Ctrl-C.
func (a *app) loadSpec(paths []string) (*requirement.Spec, error) {
	sources := make([]requirement.Source, len(paths))
	for i, p := range paths {
		if p == "-" {
			sources[i] = requirement.Source{Name: "<stdin>", Reader: a.stdin}
			continue
		}
		f := readctx.File(p)
		defer f.Close()
		sources[i] = requirement.Source{Name: p, Reader: f}
	}
	spec, err := requirement.Load(a.ctx, requirement.LoadOptions{}, sources...)
	if err != nil {
		var re *requirement.Error
		switch {
		case a.ctx.Err() != nil:
			return nil, withCode(ExitError, fmt.Errorf("interrupted while %w", err))
		case errors.As(err, &re):
			return nil, withCode(ExitUsage, specError(err))
		default:
			return nil, withCode(ExitUsage, fmt.Errorf("%w: %w", errInvalidSpec, err))
		}
	}
	for _, n := range spec.Notes {
		// The classic fields the spec holds and preflight does not use: said, never hidden.
		fmt.Fprintf(a.stderr, "note: %s\n", safeText(n.String(), true))
	}
	return spec, nil
}

// specError formats a load error: a *requirement.Error lists one problem a line.
func specError(err error) error {
	var re *requirement.Error
	if errors.As(err, &re) && len(re.Problems) > 0 {
		return fmt.Errorf("%w (%s):\n%s", errInvalidSpec, plural(re.Count(), "problem", "problems"), strings.TrimRight(re.Error(), "\n"))
	}
	return fmt.Errorf("%w: %w", errInvalidSpec, err)
}

func containsStdin(paths []string) bool { return countStdin(paths) > 0 }

// countStdin counts the "-" in paths.
func countStdin(paths []string) int {
	n := 0
	for _, p := range paths {
		if p == "-" {
			n++
		}
	}
	return n
}
