package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
)

// errNoRecording is the source's error for a requirement the recording has no output for.
var errNoRecording = errors.New("no recorded output")

// recordedSource returns a source that replays the outputs of d, by requirement id. A
// recording that lists an id twice is refused: which output would count is not knowable.
func recordedSource(d *Decision) (source, error) {
	byID := make(map[string]*RequirementResult, len(d.Requirements))
	first := make(map[string]int, len(d.Requirements))
	for i := range d.Requirements {
		id := d.Requirements[i].ID
		if j, dup := first[id]; dup {
			return nil, fmt.Errorf("evaluate: the recording lists requirement %q twice (requirements[%d] and requirements[%d]); a decision from run -o json lists each requirement once", id, j, i)
		}
		first[id] = i
		byID[id] = &d.Requirements[i]
	}
	return func(_ context.Context, req *requirement.Requirement, _ command.Prepared, _ *command.Env) (*command.Result, error) {
		r, ok := byID[req.ID]
		if !ok {
			return nil, errNoRecording
		}
		if res := recordedResult(r); res != nil {
			return res, nil
		}
		return nil, errNoRecording
	}, nil
}

// recordedResult rebuilds the command result a recorded requirement result was analysed
// from, or nil when it holds none (it was skipped, not run, or failed before its command).
// A requirement recorded as skipped or not run has no output, whatever else it holds, and
// so has a node recorded so without saying why (excluded or not run): such a node is not
// run, never analysed as if it had run. An output the recording marks output_trimmed holds
// only the start of what the command printed: it is replayed as truncated.
func recordedResult(r *RequirementResult) *command.Result {
	if r.Status == StatusSkipped || r.Status == StatusNotRun {
		return nil
	}
	res := &command.Result{Privileged: r.Privileged}
	for _, n := range r.Nodes {
		switch {
		case n.Excluded == "" && n.NotRun == "" && (n.Status == StatusSkipped || n.Status == StatusNotRun):
			res.Outputs = append(res.Outputs, command.Output{
				Node: n.Node, NotRun: errNoRecording.Error(), Err: errNoRecording,
				StatusCode: command.CodeGeneralError, Duration: durationOf(n.Duration),
			})
		case n.Excluded != "":
			res.Excluded = append(res.Excluded, command.Excluded{Node: n.Node, Reason: n.Excluded})
		case n.NotRun != "":
			res.Outputs = append(res.Outputs, command.Output{
				Node: n.Node, NotRun: n.NotRun, Err: errorOrNil(n.Error),
				StatusCode: command.CodeGeneralError, Duration: durationOf(n.Duration),
			})
		case n.StatusCode != nil:
			res.Outputs = append(res.Outputs, command.Output{
				Node: n.Node, StatusCode: *n.StatusCode, Stdout: n.Stdout, Stderr: n.Stderr,
				Err: errorOrNil(n.Error), Duration: durationOf(n.Duration), Truncated: n.Truncated || n.OutputTrimmed,
			})
		}
	}
	if len(r.Nodes) > 0 {
		if len(res.Outputs) == 0 && len(res.Excluded) == 0 {
			return nil
		}
		return res
	}
	if r.StatusCode == nil {
		return nil
	}
	res.Outputs = []command.Output{{
		StatusCode: *r.StatusCode, Stdout: r.Stdout, Stderr: r.Stderr,
		Err: errorOrNil(r.Error), Duration: durationOf(r.Duration), Truncated: r.Truncated || r.OutputTrimmed,
	}}
	return res
}

func durationOf(d Duration) time.Duration { return time.Duration(d) }

// recordedError stands for a command error read back from a recording.
type recordedError string

func (e recordedError) Error() string { return string(e) }

func errorOrNil(s string) error {
	if s == "" {
		return nil
	}
	return recordedError(s)
}

// normalizeNumbers turns whole JSON numbers (float64 after decoding) back into int64, so
// that recorded cluster facts have the CEL types the live ones have.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalizeNumbers(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = normalizeNumbers(e)
		}
		return l
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	default:
		return v
	}
}
