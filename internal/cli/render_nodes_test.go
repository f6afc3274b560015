package cli

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// nodeOutputs is a per-node command that returns fixed outputs, as the scheduler returns a
// fan-out's (a node that ran, one whose pod could not start, one NotReady), so that the text
// render is tested on what the real runner makes of them.
type nodeOutputs struct{ res command.Result }

func (c nodeOutputs) Prepare(json.RawMessage, command.SpecContext) (command.Prepared, error) {
	return c, nil
}

func (c nodeOutputs) Run(context.Context, *command.Env) (*command.Result, error) {
	res := c.res
	return &res, nil
}

// runWith loads spec with the command fake registered and runs it without a cluster.
func runWith(t *testing.T, spec string, fake command.Command) *runner.Decision {
	t.Helper()
	reg := command.Builtins()
	require.NoError(t, reg.Register("fake_nodes", fake))
	s, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg},
		requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	require.NoError(t, err)
	r, err := runner.New(runner.Options{})
	require.NoError(t, err)
	d, err := r.Run(context.Background(), s)
	require.NoError(t, err)
	for i := range d.Requirements { // durations vary: fix them for the golden file
		d.Requirements[i].Duration = runner.Duration(1200 * time.Millisecond)
	}
	return d
}

func podError(pod, node, reason, msg string) error {
	return &command.PodError{Pod: pod, Node: node, Reason: reason, Message: msg}
}

// TestWriteTextMultiNodeFailure: each fact of a failing fan-out is printed once: the row says
// how many nodes failed, each node line says why (its result's message, then its error when
// that adds something), and no error line repeats a node's.
func TestWriteTextMultiNodeFailure(t *testing.T) {
	t.Parallel()
	const spec = `custom_requirements:
- id: license-file
  message: License file present on every node
  command: {id: fake_nodes}
  results:
  - status: success
    message: License file present
    condition: {status_code: 0}
  - status: error
    message: License file missing
    condition: {status_code: 1, error: false}
  - status: error
    message: could not check the node
    condition: {error: true}
`
	pull := `Back-off pulling image "registry.example.com/vendor/license-checker:1.4.2": ErrImagePull: failed to pull and unpack image: failed to resolve reference: not found`
	d := runWith(t, spec, nodeOutputs{command.Result{
		Outputs: []command.Output{
			{Node: "node-a", StatusCode: 0},
			{Node: "node-b", StatusCode: 1},
			{Node: "node-c", StatusCode: 1, Err: podError("preflight-license-file-x7k2p", "node-c", "ImagePullBackOff", pull)},
			{Node: "node-d", StatusCode: 1, Err: podError("preflight-license-file-q9z4m", "node-d", "ImagePullBackOff", pull)},
			{Node: "node-e", StatusCode: 1, Err: errors.New("node is NotReady"), NotRun: "node is NotReady"},
		},
		Excluded: []command.Excluded{{Node: "cp-1", Reason: "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"}},
	}})
	var b strings.Builder
	require.NoError(t, writeText(&b, d, false, 100))
	out := b.String()
	golden(t, "text-render-multi-node-failure", out)
	assert.Equal(t, 1, strings.Count(out, "failed to resolve reference"), "the pod's error once per group of nodes:\n%s", out)
	assert.Equal(t, 1, strings.Count(out, "node is NotReady"), out)
	assert.Equal(t, 1, strings.Count(out, "License file missing"), out)
	assert.NotContains(t, out, "error: ", "no error line repeats a node's")
	for _, line := range strings.Split(out, "\n") {
		assert.LessOrEqual(t, len([]rune(line)), 100, "wrapped at the width: %q", line)
	}
}

// TestWriteTextLongMessage: a long message wraps under its column, at the width, and the
// columns of the other rows stay where they are.
func TestWriteTextLongMessage(t *testing.T) {
	t.Parallel()
	d := &runner.Decision{Gate: runner.GateNeedsAck, Requirements: []runner.RequirementResult{
		{ID: "kernel", Status: runner.StatusPass, Message: "Linux 6.1", Duration: runner.Duration(3 * time.Millisecond)},
		{ID: "upgrade-path", Status: runner.StatusFail, Duration: runner.Duration(12 * time.Millisecond),
			Message: "Upgrading from 1.9.0 to 2.3.0 skips the 2.0 schema migration: install 2.0.4 first, wait for the migration job in namespace rok-system to complete, then upgrade to 2.3.0 (see https://docs.example.com/rok/upgrades/2.0#schema-migration-and-the-very-long-anchor-name)",
			Notes:   []string{"the previous version came from the release's annotations (helm.sh/chart), as the installer recorded them when the release was last upgraded"}},
		{ID: "disk", Status: runner.StatusWarn, Message: "80 GiB free", Duration: runner.Duration(2 * time.Millisecond)},
	}}
	for _, width := range []int{100, 60} {
		var b strings.Builder
		require.NoError(t, writeText(&b, d, false, width))
		golden(t, "text-render-long-message-"+strconv.Itoa(width), b.String())
		lines := strings.Split(b.String(), "\n")
		for _, line := range lines {
			if !strings.HasPrefix(line, "Gate:") {
				assert.LessOrEqual(t, len([]rune(line)), width, "wrapped at %d: %q", width, line)
			}
		}
		// The continuation lines start under the message column.
		col := strings.Index(lines[1], "Upgrading")
		assert.Equal(t, strings.Repeat(" ", col), lines[2][:col], "%q", lines[2])
		assert.NotEqual(t, " ", lines[2][col:col+1])
	}
}

// unwrap joins the lines text output wrapped (a continuation is indented 8 or more spaces),
// for tests that look for a whole message.
func unwrap(s string) string {
	return continuation.ReplaceAllString(s, " ")
}

var continuation = regexp.MustCompile(`\n {8,}`)
