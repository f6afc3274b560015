package analyzer

import (
	"bytes"
	"encoding/json"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	sigsjson "sigs.k8s.io/json"

	"github.com/preflightkit/preflight/internal/celenv"
)

// activation resolves the variables of one evaluation lazily: a value is built only when the
// expression reads it, and `output` (the JSON parse of stdout) at most once per Input however
// many expressions read it.
type activation struct {
	c  *Context
	in *Input
	// state is the evaluation under way, for celenv's guards (StateVar).
	state celenv.EvalState
}

var _ interpreter.Activation = (*activation)(nil)

var (
	emptyStringMap = types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{})
	emptyDynMap    = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})
	noCluster      = types.NewErr("cluster facts are not available: the run has no cluster, or they could not be read")
)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case celenv.VarVars:
		if a.c == nil || a.c.Vars == nil {
			return emptyDynMap, true
		}
		return types.NewStringInterfaceMap(types.DefaultTypeAdapter, a.c.Vars), true
	case celenv.VarApp:
		var app App
		if a.c != nil {
			app = a.c.App
		}
		return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{
			celenv.AppVersion:         app.Version,
			celenv.AppPreviousVersion: app.PreviousVersion,
			celenv.AppNamespace:       app.Namespace,
		}), true
	case celenv.VarPhase:
		if a.c == nil {
			return types.String(""), true
		}
		return types.String(a.c.Phase), true
	case celenv.VarCluster:
		if a.c == nil || a.c.Cluster == nil {
			return noCluster, true
		}
		return types.NewStringInterfaceMap(types.DefaultTypeAdapter, a.c.Cluster), true
	case celenv.VarResults:
		if a.c == nil || a.c.Results == nil {
			return emptyStringMap, true
		}
		return types.NewStringStringMap(types.DefaultTypeAdapter, a.c.Results), true
	case celenv.StateVar:
		return &a.state, true
	}
	if a.in == nil {
		return nil, false
	}
	switch name {
	case celenv.VarStatusCode:
		return types.Int(a.in.StatusCode), true
	case celenv.VarStdout:
		return types.String(a.in.Stdout), true
	case celenv.VarStderr:
		return types.String(a.in.Stderr), true
	case celenv.VarError:
		return types.String(a.in.Error), true
	case celenv.VarOutput:
		return a.in.outputValue(), true
	case celenv.VarNode:
		return types.String(a.in.Node), true
	case celenv.VarDuration:
		return types.Duration{Duration: a.in.Duration}, true
	case celenv.VarTruncated:
		return types.Bool(a.in.Truncated), true
	}
	return nil, false
}

// boundedSize returns the length of the longest of the inputs celenv.BoundCost assumes
// bounded, and whether it is within celenv.OutputSizeBound.
func (a *activation) boundedSize() (int, bool) {
	n := 0
	if a.c != nil {
		n = max(len(a.c.Phase), len(a.c.App.Version), len(a.c.App.PreviousVersion), len(a.c.App.Namespace))
	}
	if a.in != nil {
		n = max(n, len(a.in.Stdout), len(a.in.Stderr), len(a.in.Error), len(a.in.Node))
	}
	return n, uint64(n) <= celenv.OutputSizeBound
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// outputValue is `output`: in.Object when set, otherwise stdout parsed as JSON, or null when
// stdout is not JSON. Integers stay integers (int), as in Kubernetes objects.
func outputValue(in *Input) ref.Val {
	if in.Object != nil {
		return objectValue(in.Object)
	}
	data := bytes.TrimSpace([]byte(in.Stdout))
	if len(data) == 0 {
		return types.NullValue
	}
	var v any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &v); err != nil {
		return types.NullValue
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// objectValue converts a command's structured output. JSON-shaped values convert directly;
// anything else (a typed Kubernetes object, unstructured.Unstructured) goes through its JSON
// form, so that CEL sees what `kubectl get -o json` shows.
func objectValue(obj any) ref.Val {
	switch obj.(type) {
	case map[string]any, []any, string, bool, int64, float64, int:
		return types.DefaultTypeAdapter.NativeToValue(obj)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return types.NewErr("output: cannot convert the command's %T output: %v", obj, err)
	}
	var v any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &v); err != nil {
		return types.NewErr("output: cannot convert the command's %T output: %v", obj, err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}
