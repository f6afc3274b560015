package command

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prepareHost prepares the built-in command id with data (JSON text).
func prepareHost(t testing.TB, id, data string) (Prepared, error) {
	t.Helper()
	c, ok := Builtins().Lookup(id)
	require.True(t, ok, "command %q is not registered", id)
	var raw json.RawMessage
	if data != "" {
		raw = json.RawMessage(data)
	}
	return c.Prepare(raw, SpecContext{})
}

// mustPrepare prepares id with data and fails the test on an error.
func mustPrepare(t testing.TB, id, data string) Prepared {
	t.Helper()
	p, err := prepareHost(t, id, data)
	require.NoError(t, err)
	return p
}

// runOnce runs p once under a timeout (0: none) and returns its single output.
func runOnce(t testing.TB, p Prepared, timeout time.Duration, env *Env) Output {
	t.Helper()
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if env == nil {
		env = &Env{}
	}
	env.Timeout = timeout
	res, err := p.Run(ctx, env)
	require.NoError(t, err)
	require.Len(t, res.Outputs, 1)
	return res.Outputs[0]
}

// processGone reports whether pid has exited: it no longer exists, or it is a zombie that
// nobody has reaped yet (dead all the same).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// requireGone waits (up to a generous bound, not a performance claim) for pid to die.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool { return processGone(pid) }, 10*time.Second, 10*time.Millisecond,
		"process %d is still running", pid)
}

// killIfRunning is test cleanup for processes a failed test may leave behind.
func killIfRunning(pid int) {
	if pid > 0 && !processGone(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// prepareErrorCase is data a command must reject, with the exact message.
type prepareErrorCase struct{ name, data, want string }

// checkPrepareErrors asserts that the built-in command id rejects each case's data with
// exactly its message.
func checkPrepareErrors(t *testing.T, id string, cases []prepareErrorCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := prepareHost(t, id, tt.data)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Equal(t, tt.want, dataErrText(err))
		})
	}
}
