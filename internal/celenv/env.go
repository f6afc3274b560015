package celenv

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apimachinery/pkg/util/version"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// Limits, the numbers Kubernetes uses (k8s.io/apiserver/pkg/apis/cel/config.go and the DRA
// device selector validation).
const (
	// PerCallCostLimit bounds the cost of one evaluation (about 0.1 s of CPU). An evaluation
	// that reaches it stops with an error.
	PerCallCostLimit uint64 = 1_000_000
	// StaticCostLimit bounds an expression's worst-case estimated cost at load time. It is
	// Kubernetes' StaticEstimatedCostLimit for CRD validation rules, the case closest to ours:
	// an estimate over inputs bounded only by a size cap (here the 1 MiB command output),
	// which is pessimistic, so it is set ten times above the per-call limit that evaluation
	// enforces (the DRA selector validation uses the per-call limit itself, but its inputs are
	// a few short device attributes; with that limit a scan of stdout line by line,
	// `stdout.split("\n").exists(l, ...)`, would be refused).
	StaticCostLimit uint64 = 10 * PerCallCostLimit
	// RunCostBudget is the default cost budget shared by all expressions of one run.
	RunCostBudget uint64 = 10_000_000
	// InterruptCheckFrequency is how many comprehension iterations pass between two checks of
	// the evaluation's context.
	InterruptCheckFrequency uint = 100
	// MaxExpressionBytes is the longest expression Compile accepts, checked before parsing.
	MaxExpressionBytes = 10 << 10
	// OutputSizeBound is the size (in bytes, so at least the code points) of stdout and stderr
	// the static cost estimate assumes: the default command output limit.
	OutputSizeBound uint64 = 1 << 20
)

// Variable names. ScopeWhen variables are visible everywhere; the others only in result
// conditions.
const (
	VarVars       = "vars"
	VarApp        = "app"
	VarPhase      = "phase"
	VarCluster    = "cluster"
	VarResults    = "results"
	VarStatusCode = "status_code"
	VarStdout     = "stdout"
	VarStderr     = "stderr"
	VarError      = "error"
	VarOutput     = "output"
	VarNode       = "node"
	VarDuration   = "duration"
	VarTruncated  = "truncated"
)

// IsVariable reports whether name is one of the variables above.
func IsVariable(name string) bool {
	switch name {
	case VarVars, VarApp, VarPhase, VarCluster, VarResults, VarStatusCode, VarStdout, VarStderr,
		VarError, VarOutput, VarNode, VarDuration, VarTruncated:
		return true
	}
	return false
}

// Fields of the `app` object.
const (
	AppVersion         = "version"
	AppPreviousVersion = "previous_version"
	// AppNamespace is the run's namespace (the namespace the app is installed in). `namespace`
	// itself is a reserved word of CEL.
	AppNamespace = "namespace"
)

// compatibilityVersion is the Kubernetes version whose base CEL environment specs are compiled
// in: the functions, libraries (each at the version Kubernetes pins) and language settings an
// API server of that version accepts in a newly written expression. It is pinned, not taken
// from environment.DefaultCompatibilityVersion at run time, so that upgrading k8s.io/apiserver
// cannot change what specs may write without a change here; a test fails when the vendored
// apiserver's default moves, to prompt the bump.
var compatibilityVersion = version.MajorMinor(1, 35)

// Declared types of `app` and `cluster`: objects with fixed fields, so that a misspelt field
// (`cluster.nodez`, `app.verison`) is a compile error with a position, as in a Kubernetes
// object. The values stay Go maps (see the analyzer's activation): field selection on a map
// works against an object type at run time.
var (
	appType = object("preflight.App", map[string]*apiservercel.DeclType{
		AppVersion:         apiservercel.StringType,
		AppPreviousVersion: apiservercel.StringType,
		AppNamespace:       apiservercel.StringType,
	})
	taintType = object("preflight.Taint", map[string]*apiservercel.DeclType{
		"key":    apiservercel.StringType,
		"value":  apiservercel.StringType,
		"effect": apiservercel.StringType,
	})
	// nodeType is one of cluster.nodes, as internal/clusterinfo builds it. labels are
	// strings; capacity and allocatable are quantity strings, for quantity().
	nodeType = object("preflight.Node", map[string]*apiservercel.DeclType{
		"name":            apiservercel.StringType,
		"labels":          stringMap,
		"ready":           apiservercel.BoolType,
		"unschedulable":   apiservercel.BoolType,
		"taints":          apiservercel.NewListType(taintType, unbounded),
		"capacity":        stringMap,
		"allocatable":     stringMap,
		"kubelet_version": apiservercel.StringType,
	})
	clusterType = object("preflight.Cluster", map[string]*apiservercel.DeclType{
		"version":     apiservercel.StringType,
		"git_version": apiservercel.StringType,
		"major":       apiservercel.IntType,
		"minor":       apiservercel.IntType,
		"platform":    apiservercel.StringType,
		"nodes":       apiservercel.NewListType(nodeType, MaxClusterNodes),
	})
	stringMap = apiservercel.NewMapType(apiservercel.StringType, apiservercel.StringType, unbounded)
)

// MaxClusterNodes is the most nodes `cluster.nodes` holds: clusterinfo.MaxNodes, past which
// the facts are not read at all.
const MaxClusterNodes = 20000

// unbounded is the MaxElements of a declared list or map with no known bound.
const unbounded = math.MaxInt64

// object declares an object type whose fields are all always set.
func object(name string, fieldTypes map[string]*apiservercel.DeclType) *apiservercel.DeclType {
	fields := make(map[string]*apiservercel.DeclField, len(fieldTypes))
	for n, t := range fieldTypes {
		fields[n] = apiservercel.NewDeclField(n, t, true, nil, nil)
	}
	return apiservercel.NewObjectType(name, fields)
}

// ObjectType describes a declared object type for messages: its name as a spec writer knows
// it and its fields, sorted.
type ObjectType struct {
	Name   string
	Fields []string
}

// ObjectTypes returns the declared object types: those of the variables app and cluster (by
// variable name) and, under "cluster.nodes[]" and "cluster.nodes[].taints[]", those of their
// elements.
func ObjectTypes() map[string]ObjectType {
	names := func(t *apiservercel.DeclType) []string {
		out := make([]string, 0, len(t.Fields))
		for n := range t.Fields {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
	return map[string]ObjectType{
		VarApp:                     {VarApp, names(appType)},
		VarCluster:                 {VarCluster, names(clusterType)},
		"cluster.nodes[]":          {"cluster.nodes[]", names(nodeType)},
		"cluster.nodes[].taints[]": {"cluster.nodes[].taints[]", names(taintType)},
	}
}

// projectOptions are what the project adds to Kubernetes' base environment: its own limit on
// the expression's size, backing up the byte limit Compile checks first, and kstatus.
func projectOptions() []cel.EnvOption {
	return append([]cel.EnvOption{cel.ParserExpressionSizeLimit(MaxExpressionBytes)}, kstatusOptions()...)
}

// whenVariables are the variables every expression sees.
func whenVariables() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable(VarVars, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarApp, appType.CelType()),
		cel.Variable(VarPhase, cel.StringType),
		cel.Variable(VarCluster, clusterType.CelType()),
		cel.Variable(VarResults, cel.MapType(cel.StringType, cel.StringType)),
	}
}

// conditionVariables are the variables result conditions see on top of whenVariables.
func conditionVariables() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable(VarStatusCode, cel.IntType),
		cel.Variable(VarStdout, cel.StringType),
		cel.Variable(VarStderr, cel.StringType),
		cel.Variable(VarError, cel.StringType),
		cel.Variable(VarOutput, cel.DynType),
		cel.Variable(VarNode, cel.StringType),
		cel.Variable(VarDuration, cel.DurationType),
		cel.Variable(VarTruncated, cel.BoolType),
	}
}

// secretsOptions are what the conditions of a requirement that reads Secret values see on
// top of the condition environment: CEL's encoders extension, base64.decode(string) -> bytes
// and base64.encode(bytes) -> string, to inspect the values the kubernetes command otherwise
// redacts.
func secretsOptions() []cel.EnvOption {
	return []cel.EnvOption{ext.Encoders(ext.EncodersVersion(0))}
}

// newEnv extends Kubernetes' base environment, the way Kubernetes declares the variables of
// its own expressions (an EnvSet extended with VersionedOptions carrying the variables and
// their DeclTypes), and returns its environment for new expressions.
func newEnv(scope string, vars ...[]cel.EnvOption) (*cel.Env, error) {
	opts := projectOptions()
	for _, v := range vars {
		opts = append(opts, v...)
	}
	set, err := environment.MustBaseEnvSet(compatibilityVersion).Extend(environment.VersionedOptions{
		IntroducedVersion: compatibilityVersion,
		EnvOptions:        opts,
		DeclTypes:         []*apiservercel.DeclType{appType, clusterType, kstatusType},
	})
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment for %s: %w", scope, err)
	}
	return set.NewExpressionsEnv(), nil
}

// programEnv is the environment programs are planned in and the options they are built with.
type programEnv struct {
	env *cel.Env
	// tracked are the options of cost-tracked programs, untracked those of the others.
	tracked, untracked []cel.ProgramOption
}

// newRuntime returns the environment programs are planned in: every function of env (the
// same declarations and implementations, so the Kubernetes libraries at the same versions),
// and the optional types library, whose `or` and `orValue` are implemented by a program
// decorator rather than a function. It leaves out the program options of Kubernetes' base
// environment: those turn cost tracking on for every program and register the lists and sets
// extensions' per-overload cost trackers, which cel-go v0.26 copies into a new map at every
// evaluation; that costs more than evaluating a typical condition. The tracked options put
// back the cost limit and model (runtimeCost, which also charges those extensions' functions
// by name); both kinds of program check the price of the calls costModel prices before they
// run (guards).
func newRuntime(env *cel.Env) (*programEnv, error) {
	fns := make([]*decls.FunctionDecl, 0, len(env.Functions()))
	for _, fn := range env.Functions() {
		fns = append(fns, fn)
	}
	rt, err := cel.NewEnv(cel.OptionalTypes(), cel.FunctionDecls(fns...))
	if err != nil {
		return nil, fmt.Errorf("building the CEL program environment: %w", err)
	}
	g, err := guards(rt.Functions())
	if err != nil {
		return nil, fmt.Errorf("building the CEL program environment: %w", err)
	}
	return &programEnv{
		env: rt,
		// Kubernetes' per-call cost limit and cost model (the base environment's program
		// options, with runtimeCost for its estimator), optimisation, interrupt checks so
		// that ContextEval can stop a long comprehension, and the guards.
		tracked: append([]cel.ProgramOption{
			cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
			cel.CostLimit(PerCallCostLimit),
			cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
			cel.CostTracking(runtimeCost),
			cel.InterruptCheckFrequency(InterruptCheckFrequency),
		}, g...),
		untracked: append([]cel.ProgramOption{
			cel.EvalOptions(cel.OptOptimize),
			cel.InterruptCheckFrequency(InterruptCheckFrequency),
		}, g...),
	}, nil
}

var (
	whenEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv("when", whenVariables())
	})
	conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv("conditions", whenVariables(), conditionVariables())
	})
	secretsConditionEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv("conditions reading Secret values", whenVariables(), conditionVariables(), secretsOptions())
	})
	// runtimeEnv holds every function of every checking environment (the secrets one is a
	// superset): an AST checked in an environment without base64 cannot call it.
	runtimeEnv = sync.OnceValues(func() (*programEnv, error) {
		env, err := secretsConditionEnv()
		if err != nil {
			return nil, err
		}
		return newRuntime(env)
	})
)

// When returns the environment of `when` expressions. It is built on first use and shared;
// the error can only be a programming error (a bad declaration), never one of the caller's.
func When() (*cel.Env, error) { return whenEnv() }

// Condition returns the environment of result conditions: When's plus the output variables.
func Condition() (*cel.Env, error) { return conditionEnv() }

// SecretsCondition returns the environment of the result conditions (and message_expr) of a
// requirement that opted in to read Secret values: Condition's plus base64.decode and
// base64.encode.
func SecretsCondition() (*cel.Env, error) { return secretsConditionEnv() }

// Program builds the cost-tracked program of ast, checked in When() or Condition(), with
// ProgramOptions.
func Program(ast *cel.Ast) (cel.Program, error) {
	rt, err := runtimeEnv()
	if err != nil {
		return nil, err
	}
	return rt.env.Program(ast, rt.tracked...)
}

// UntrackedProgram builds the program of ast without cost tracking, for an expression whose
// cost Bound proved below PerCallCostLimit: evaluating it cannot exceed the limit as long as
// the bounded inputs are within OutputSizeBound, and tracking would cost more than the
// evaluation itself.
func UntrackedProgram(ast *cel.Ast) (cel.Program, error) {
	rt, err := runtimeEnv()
	if err != nil {
		return nil, err
	}
	return rt.env.Program(ast, rt.untracked...)
}

// Bound is an upper bound of the cost of an expression whose cost depends only on the sizes
// of the bounded inputs (stdout, stderr, error, node, phase, app.version,
// app.previous_version and app.namespace): Base + Slope·n when none of them is longer than n bytes, for n up to
// OutputSizeBound.
type Bound struct {
	Base, Slope float64
}

// Cost returns the bound for inputs of at most n bytes.
func (b Bound) Cost(n int) uint64 { return uint64(math.Ceil(b.Base + b.Slope*float64(n))) }

// boundMargin covers the difference between the static estimate and the cost actually tracked
// at run time: the two are separate models in cel-go and k8s.io/apiserver, and the tracked
// cost of a regular expression can exceed the estimate (by 15% in the tests).
const boundMargin = 2

// BoundCost reports whether the cost of ast depends only on the bounded inputs and, with
// boundMargin, stays within PerCallCostLimit when they are at most OutputSizeBound long; if
// so it returns the Bound. The estimate (costModel, the same prices the runtime tracker
// charges) of an expression over the bounded strings is a sum of products of their sizes
// with non-negative coefficients: linear for most functions, quadratic for replace, a
// product for a search of one by another. Such a function is convex, so the line through the
// estimates at sizes 0 and OutputSizeBound bounds it in between.
func BoundCost(env *cel.Env, ast *cel.Ast) (Bound, bool) {
	hi, err := env.EstimateCost(ast, newCostModel(boundedSizes{size: OutputSizeBound}))
	if err != nil || hi.Max > PerCallCostLimit/boundMargin {
		return Bound{}, false
	}
	lo, err := env.EstimateCost(ast, newCostModel(boundedSizes{size: 0}))
	if err != nil || lo.Max > hi.Max {
		return Bound{}, false
	}
	return Bound{
		Base:  float64(boundMargin * (lo.Max + 1)),
		Slope: float64(boundMargin*(hi.Max-lo.Max)) / float64(OutputSizeBound),
	}, true
}

// boundedSizes sizes the bounded inputs at size and leaves everything else unknown (so any
// cost that depends on it is unbounded).
type boundedSizes struct{ size uint64 }

// EstimateSize implements checker.CostEstimator.
func (b boundedSizes) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	if IsBoundedPath(element.Path()) {
		return &checker.SizeEstimate{Min: 0, Max: b.size}
	}
	return nil
}

// EstimateCallCost implements checker.CostEstimator.
func (boundedSizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// IsBoundedPath reports whether a field path names one of the bounded string inputs.
func IsBoundedPath(p []string) bool {
	switch len(p) {
	case 1:
		switch p[0] {
		case VarStdout, VarStderr, VarError, VarNode, VarPhase:
			return true
		}
	case 2:
		return p[0] == VarApp && (p[1] == AppVersion || p[1] == AppPreviousVersion || p[1] == AppNamespace)
	}
	return false
}

// ProgramOptions returns the options every cost-tracked program is built with. The slice is
// shared: do not modify it.
func ProgramOptions() ([]cel.ProgramOption, error) {
	rt, err := runtimeEnv()
	if err != nil {
		return nil, err
	}
	return rt.tracked, nil
}

// EstimateCost estimates the worst-case cost of a checked expression with Kubernetes' cost
// model, for the static check Compile makes against StaticCostLimit.
//
// stdout and stderr are taken at OutputSizeBound. Every other input whose size only the run
// knows (the strings, lists and maps of vars, app, cluster, results, output, error and node,
// and the elements of lists derived from them) is taken as empty: the estimate is the cost
// the expression has whatever that data turns out to be, so an expression it refuses is too
// costly for any run, while the cost that grows with the run's data is left to
// PerCallCostLimit, enforced during evaluation.
func EstimateCost(env *cel.Env, ast *cel.Ast) (checker.CostEstimate, error) {
	return env.EstimateCost(ast, estimator)
}

var estimator = newCostModel(sizeEstimator{})

// sizeEstimator sizes what the library estimator cannot: stdout and stderr at the output
// limit, anything else of unknown size as empty (see EstimateCost).
type sizeEstimator struct{}

var (
	outputSize = checker.SizeEstimate{Min: 0, Max: OutputSizeBound}
	emptySize  = checker.SizeEstimate{Min: 0, Max: 0}
)

// EstimateSize implements checker.CostEstimator.
func (sizeEstimator) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	if p := element.Path(); len(p) == 1 && (p[0] == VarStdout || p[0] == VarStderr) {
		return &outputSize
	}
	return &emptySize
}

// EstimateCallCost implements checker.CostEstimator; it leaves calls to the library
// estimator.
func (sizeEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}
