package requirement_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// fakeRegistry registers every built-in command id with a command that accepts any data, so
// that loader tests do not depend on the commands' own checks (the schema still checks each
// built-in's data), plus "custom", whose Prepare refuses data with a "bad" field.
func fakeRegistry(t testing.TB) *command.Registry {
	t.Helper()
	reg := &command.Registry{}
	builtins := command.Builtins()
	for _, id := range builtins.IDs() {
		real, _ := builtins.Lookup(id)
		require.NoError(t, reg.Register(id, fakeCommand{real: real, Func: command.Func(func(data json.RawMessage, sc command.SpecContext) (command.Prepared, error) {
			return command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) { return &command.Result{}, nil }), nil
		})}))
	}
	require.NoError(t, reg.Register("custom", command.Func(func(data json.RawMessage, sc command.SpecContext) (command.Prepared, error) {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, errors.New("data: must be a map")
		}
		if _, ok := m["bad"]; ok {
			return nil, field.Forbidden(field.NewPath("data", "bad"), "must not be set (custom refuses it)")
		}
		if _, ok := m["panic"]; ok {
			panic("custom panicked")
		}
		return command.RunFunc(func(context.Context, *command.Env) (*command.Result, error) { return &command.Result{}, nil }), nil
	})))
	return reg
}

// fakeCommand accepts any data, and describes it as the built-in real does (its data type and
// whether it reads Secret values), so that K_expr keys are typed as with the real commands.
type fakeCommand struct {
	command.Func
	real command.Command
}

func (f fakeCommand) DataType() reflect.Type { return f.real.(command.DataDescriber).DataType() }

func (f fakeCommand) ReadsSecretValues(data json.RawMessage) bool {
	s, ok := f.real.(interface{ ReadsSecretValues(json.RawMessage) bool })
	return ok && s.ReadsSecretValues(data)
}

// dump renders a loaded spec for golden files.
func dump(spec *requirement.Spec) string {
	type cond struct {
		StatusCode *int   `json:"status_code,omitempty"`
		Error      *bool  `json:"error,omitempty"`
		Expr       string `json:"expr,omitempty"`
	}
	type result struct {
		Status      requirement.Status  `json:"status"`
		Message     requirement.Message `json:"message"`
		MessageExpr string              `json:"message_expr,omitempty"`
		Condition   *cond               `json:"condition,omitempty"`
	}
	type req struct {
		ID        string              `json:"id"`
		Location  string              `json:"location"`
		Message   requirement.Message `json:"message"`
		Details   requirement.Message `json:"details"`
		When      string              `json:"when,omitempty"`
		Strict    bool                `json:"strict,omitempty"`
		Command   string              `json:"command"`
		Timeout   string              `json:"timeout"`
		Data      json.RawMessage     `json:"data,omitempty"`
		Values    []string            `json:"values,omitempty"`
		Secrets   bool                `json:"secret_values,omitempty"`
		Results   []result            `json:"results"`
		Retry     *requirement.Retry  `json:"retry,omitempty"`
		DependsOn []string            `json:"depends_on,omitempty"`
	}
	out := struct {
		Summary      string   `json:"summary"`
		Pods         []string `json:"pods,omitempty"`
		Requirements []req    `json:"requirements"`
		Notes        []string `json:"notes,omitempty"`
	}{Summary: spec.Summary()}
	for _, n := range spec.Notes {
		out.Notes = append(out.Notes, n.String())
	}
	for name := range spec.Pods {
		out.Pods = append(out.Pods, name)
	}
	sort.Strings(out.Pods)
	for _, r := range spec.Requirements {
		x := req{ID: r.ID, Location: r.Location.String(), Message: r.Message, Details: r.Details, Strict: r.Strict,
			Command: r.Command.ID, Timeout: r.Command.Timeout.String(), Data: r.Command.Data, Retry: r.Retry, DependsOn: r.DependsOn,
			Secrets: r.Command.SecretValues}
		for _, e := range r.Command.Expressions() {
			x.Values = append(x.Values, e.Source())
		}
		if r.When != nil {
			x.When = r.When.Source()
		}
		for _, res := range r.Results {
			y := result{Status: res.Status, Message: res.Message}
			if res.MessageExpr != nil {
				y.MessageExpr = res.MessageExpr.Source()
			}
			if c := res.Condition; c != nil {
				y.Condition = &cond{StatusCode: c.StatusCode, Error: c.Error}
				if c.Expr != nil {
					y.Condition.Expr = c.Expr.Source()
				}
			}
			x.Results = append(x.Results, y)
		}
		out.Requirements = append(out.Requirements, x)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./requirement -update to create it")
	require.Equal(t, string(want), got)
}

// forEachSpec runs fn as a subtest for each file matching pattern.
func forEachSpec(t *testing.T, pattern string, fn func(t *testing.T, file string)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { fn(t, f) })
	}
}

// TestGoldenValid loads each testdata/valid spec and compares what was loaded with its
// golden file.
func TestGoldenValid(t *testing.T) {
	forEachSpec(t, "testdata/valid/*.yaml", func(t *testing.T, f string) {
		spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)}, f)
		require.NoError(t, err)
		golden(t, strings.TrimSuffix(f, ".yaml")+".golden", dump(spec))
	})
}

// TestGoldenInvalid loads each testdata/invalid spec and compares the error, every problem
// with its location and message, with its golden file.
func TestGoldenInvalid(t *testing.T) {
	forEachSpec(t, "testdata/invalid/*.yaml", func(t *testing.T, f string) {
		spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{Registry: fakeRegistry(t)}, f)
		require.Nil(t, spec)
		require.NotEmpty(t, problems(t, err))
		golden(t, strings.TrimSuffix(f, ".yaml")+".golden", err.Error()+"\n")
	})
}

// TestGoldenBuiltins loads each testdata/builtins spec with the built-in commands, whose own
// checks of the data run too, and compares the error with its golden file.
func TestGoldenBuiltins(t *testing.T) {
	forEachSpec(t, "testdata/builtins/*.yaml", func(t *testing.T, f string) {
		spec, err := requirement.LoadFiles(context.Background(), requirement.LoadOptions{}, f)
		require.Nil(t, spec)
		require.NotEmpty(t, problems(t, err))
		golden(t, strings.TrimSuffix(f, ".yaml")+".golden", err.Error()+"\n")
	})
}
