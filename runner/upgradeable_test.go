package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// TestWaitUntilUpgradeable waits, with the real http command, for an endpoint on loopback
// that says {"upgradeable": false} until the test flips it mid-wait.
func TestWaitUntilUpgradeable(t *testing.T) {
	var upgradeable atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upgradeable": %v}`, upgradeable.Load())
	}))
	defer srv.Close()

	spec := fmt.Sprintf(`
custom_requirements:
- id: app-upgradeable
  message: The app is ready for an upgrade
  when: phase == "upgrade"
  command:
    id: http
    timeout: 5
    data: {url: "%s/upgradeable"}
  retry: {interval: 20ms, timeout: 2m}
  results:
  - status: success
    message: The app says it can be upgraded.
    condition: {status_code: 200, expr: "output.upgradeable == true"}
  - status: error
    message: The app is not ready for an upgrade yet.
`, srv.URL)
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "upgrade.yaml", Reader: strings.NewReader(spec)})
	require.NoError(t, err)

	var mu sync.Mutex
	var attempts []runner.Status
	r, err := runner.New(runner.Options{Phase: runner.Upgrade, OnEvent: func(e runner.Event) {
		if e.Type != runner.EventAttempt {
			return
		}
		mu.Lock()
		attempts = append(attempts, e.Result.Status)
		mu.Unlock()
		if e.Attempt == 3 {
			upgradeable.Store(true) // the app finishes its migration while the gate waits
		}
	}})
	require.NoError(t, err)
	d, err := r.Run(ctx, s)
	require.NoError(t, err)

	res := d.Requirements[0]
	assert.Equal(t, runner.GatePass, d.Gate)
	assert.Equal(t, runner.StatusPass, res.Status)
	assert.Equal(t, "The app says it can be upgraded.", res.Message)
	assert.Equal(t, 4, res.Attempts)
	assert.Equal(t, `{"upgradeable": true}`, res.Stdout, "the decision shows the last output")
	assert.Equal(t, int32(4), hits.Load())
	assert.Equal(t, []runner.Status{runner.StatusFail, runner.StatusFail, runner.StatusFail, runner.StatusPass}, attempts)
}
