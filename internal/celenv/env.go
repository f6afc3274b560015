package celenv

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apiserver/pkg/cel/library"
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
)

// Keys of the `app` map.
const (
	AppVersion         = "version"
	AppPreviousVersion = "previous_version"
)

// baseOptions mirrors k8s.io/apiserver/pkg/cel/environment's base environment (v0.36.3, at
// compatibility version 1.34), without the authorization and JSON patch libraries. Every
// library that takes a version is pinned, so that upgrading cel-go or k8s.io/apiserver cannot
// change what specs may write without a change here.
func baseOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(cel.OptionalTypesVersion(2)),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
		),
		// has() costs nothing, as in Kubernetes since cel-go v0.17.7.
		cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
		// The parser's own size limit backs up the byte limit Compile checks first.
		cel.ParserExpressionSizeLimit(MaxExpressionBytes),

		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(ext.SetsVersion(0)),
		ext.TwoVarComprehensions(ext.TwoVarComprehensionsVersion(0)),
		ext.Lists(ext.ListsVersion(3)), // version 3: the first with cost estimates

		library.URLs(),
		library.Regex(),
		library.Lists(),
		library.Quantity(),
		library.IP(),
		library.CIDR(),
		library.Format(),
		library.SemverLib(library.SemverVersion(1)),
	}
}

// whenVariables are the variables every expression sees.
func whenVariables() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable(VarVars, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarApp, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(VarPhase, cel.StringType),
		cel.Variable(VarCluster, cel.MapType(cel.StringType, cel.DynType)),
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
	}
}

var (
	whenEnv = sync.OnceValues(func() (*cel.Env, error) {
		env, err := cel.NewEnv(append(baseOptions(), whenVariables()...)...)
		if err != nil {
			return nil, fmt.Errorf("building the CEL environment for when: %w", err)
		}
		return env, nil
	})
	conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
		base, err := whenEnv()
		if err != nil {
			return nil, err
		}
		env, err := base.Extend(conditionVariables()...)
		if err != nil {
			return nil, fmt.Errorf("building the CEL environment for conditions: %w", err)
		}
		return env, nil
	})
)

// When returns the environment of `when` expressions. It is built on first use and shared;
// the error can only be a programming error (a bad declaration), never one of the caller's.
func When() (*cel.Env, error) { return whenEnv() }

// Condition returns the environment of result conditions: When's plus the output variables.
func Condition() (*cel.Env, error) { return conditionEnv() }

// programOptions are the options of every program: Kubernetes' per-call cost limit and cost
// model, optimisation, and interrupt checks so that ContextEval can stop a long comprehension.
var programOptions = []cel.ProgramOption{
	cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
	cel.CostLimit(PerCallCostLimit),
	cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
	cel.CostTracking(&library.CostEstimator{}),
	cel.InterruptCheckFrequency(InterruptCheckFrequency),
}

// ProgramOptions returns the options every program is built with. The slice is shared: do not
// modify it.
func ProgramOptions() []cel.ProgramOption { return programOptions }

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

var estimator = &library.CostEstimator{SizeEstimator: sizeEstimator{}}

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
