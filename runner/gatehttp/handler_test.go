package gatehttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/runner"
)

const retryExtra = "  retry: {interval: 1ms, timeout: 30s}\n"

// TestRunLifecycle starts a run under a prefix, reads it while it runs (a partial, blocked
// decision) and once it is done.
func TestRunLifecycle(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("first", `{name: first}`, ""),
		step("slow", `{name: slow, wait: true, codes: [2]}`, ""),
	), Options{})
	req, err := http.NewRequest("POST", hs.srv.URL+prefix+"/runs", strings.NewReader(`{"phase": "upgrade"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var created struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, prefix+"/runs/"+created.ID, resp.Header.Get("Location"), "Location keeps the prefix the handler is mounted under")
	id := created.ID

	// While slow waits, first is done: the partial decision has it, and blocks.
	deadline := time.Now().Add(30 * time.Second)
	var a runAnswer
	for {
		a = hs.get(id)
		if len(a.Decision.Requirements) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, id, a.ID)
	assert.Equal(t, "running", a.State)
	assert.Equal(t, runner.GateBlocked, a.Decision.Gate, "a partial decision never passes")
	assert.False(t, a.DeployAllowed)
	require.Len(t, a.Decision.Requirements, 1)
	assert.Equal(t, "first", a.Decision.Requirements[0].ID)
	assert.Equal(t, runner.StatusPass, a.Decision.Requirements[0].Status)

	hs.release("slow")
	a = hs.wait(id)
	assert.Equal(t, "done", a.State)
	assert.Equal(t, runner.GateNeedsAck, a.Decision.Gate)
	assert.False(t, a.DeployAllowed, "a warning not acknowledged holds Deploy")
	assert.NotEmpty(t, a.Decision.RunID)
	require.Len(t, a.Decision.Requirements, 2)
	assert.Equal(t, "slow warns.", a.Decision.Requirements[1].Message)

	// The same JSON as preflight run -o json: the decision decodes strictly.
	var raw struct{ Decision json.RawMessage }
	_, body := hs.do("GET", "/runs/"+id, nil, &raw)
	assert.Contains(t, body, `"deploy_allowed":false`)
	dec := json.NewDecoder(strings.NewReader(string(raw.Decision)))
	dec.DisallowUnknownFields()
	var d runner.Decision
	require.NoError(t, dec.Decode(&d))
}

// TestDeployAllowedOnPass: a run that passes allows Deploy at once.
func TestDeployAllowedOnPass(t *testing.T) {
	hs := newHarness(t, specYAML(step("a", `{name: a}`, "")), Options{})
	a := hs.wait(hs.start(nil))
	assert.Equal(t, runner.GatePass, a.Decision.Gate)
	assert.True(t, a.DeployAllowed)
	assert.True(t, hs.h.DeployAllowed(a.ID), "the Go accessor says the same")
	assert.False(t, hs.h.DeployAllowed("nope"))
}

// TestEventsOrderReplayAndWatchers watches one run from three clients: one from the start,
// one that joins mid-run and one that connects after it ended. Each gets every event, in
// the same order with the same ids, then done; Last-Event-ID resumes after an event.
func TestEventsOrderReplayAndWatchers(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("nodes", `{name: nodes, nodes: 5, codes: [1]}`, ""),
		step("flaky", `{name: flaky, codes: [1, 1, 0]}`, retryExtra),
		step("held", `{name: held, wait: true}`, "  depends_on: [flaky]\n"),
	), Options{})
	id := hs.start(map[string]any{"acknowledge": []string{"nodes"}})
	ctx := t.Context()
	_, early := hs.stream(ctx, id, "")

	// Read until held has started; then a second watcher joins.
	var first []sseEvent
	for {
		e := next(t, early)
		first = append(first, e)
		if e.Type == "started" && eventOf(t, e).RequirementID == "held" {
			break
		}
	}
	resp, mid := hs.stream(ctx, id, "")
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	hs.release("held")
	first = append(first, all(t, early)...)
	second := all(t, mid)
	late := all(t, func() <-chan sseEvent { _, ch := hs.stream(ctx, id, ""); return ch }())

	assert.Equal(t, first, second, "a watcher that joins mid-run gets the earlier events first")
	// The done event's data is read when it is sent; the rest is the same for a late client.
	assert.Equal(t, first[:len(first)-1], late[:len(late)-1], "a client that connects after the run gets every event")

	var got []string
	for i, e := range first {
		assert.Equal(t, i+1, e.ID, "ids number the events from 1")
		if e.Type == "done" {
			got = append(got, "done")
			continue
		}
		ev := eventOf(t, e)
		assert.Equal(t, e.Type, string(ev.Type))
		assert.False(t, ev.At.IsZero())
		s := fmt.Sprintf("%s %s", e.Type, ev.RequirementID)
		switch ev.Type {
		case runner.EventNode:
			s += fmt.Sprintf(" %s %s %d/%d", ev.Node.Node, ev.Node.Status, ev.Attempt, ev.Nodes)
		case runner.EventAttempt:
			s += fmt.Sprintf(" %d %s", ev.Attempt, ev.Result.Status)
		case runner.EventFinished:
			s += " " + string(ev.Result.Status)
		}
		got = append(got, s)
	}
	// nodes and flaky run at once: check each requirement's own order, then done last.
	only := func(id string) []string {
		var out []string
		for _, s := range got {
			if strings.HasSuffix(strings.Fields(s)[0], "done") {
				continue
			}
			if strings.Fields(s)[1] == id {
				out = append(out, s)
			}
		}
		return out
	}
	assert.Equal(t, []string{"started nodes",
		"node nodes node-00 pass 1/5", "node nodes node-01 pass 1/5", "node nodes node-02 pass 1/5",
		"node nodes node-03 pass 1/5", "node nodes node-04 fail 1/5", "finished nodes fail"}, only("nodes"))
	assert.Equal(t, []string{"started flaky", "attempt flaky 1 fail", "attempt flaky 2 fail", "attempt flaky 3 pass", "finished flaky pass"}, only("flaky"))
	assert.Equal(t, []string{"started held", "finished held pass"}, only("held"))
	assert.Equal(t, "done", got[len(got)-1])
	done := doneOf(t, first[len(first)-1])
	assert.Equal(t, "done", done.State)
	assert.Equal(t, runner.GatePass, done.Decision.Gate, "nodes was acknowledged with the run")
	assert.True(t, done.DeployAllowed)

	// Last-Event-ID: the events after it, then done; after done, nothing (204).
	_, resumed := hs.stream(ctx, id, "3")
	rest := all(t, resumed)
	require.NotEmpty(t, rest)
	assert.Equal(t, 4, rest[0].ID)
	assert.Equal(t, first[3:len(first)-1], rest[:len(rest)-1])
	resp, ended := hs.stream(ctx, id, fmt.Sprint(len(first)))
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "nothing follows the done event")
	assert.Empty(t, all(t, ended))
	resp, _ = hs.stream(ctx, id, "x")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// TestAcknowledgeAfterTheRun acknowledges a warning and a failure after the run: who and
// when are in the decision, the gate passes and Deploy is allowed; a later client's done
// event shows it too.
func TestAcknowledgeAfterTheRun(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("ok", `{name: ok}`, ""),
		step("warn", `{name: warn, codes: [2]}`, ""),
		step("strict-warn", `{name: strict-warn, codes: [2]}`, "  strict: true\n"),
		step("fail", `{name: fail, codes: [1]}`, ""),
	), Options{})
	id := hs.start(nil)
	a := hs.wait(id)
	require.Equal(t, runner.GateNeedsAck, a.Decision.Gate)
	assert.Equal(t, []string{"warn", "strict-warn", "fail"}, a.Decision.NeedsAck())

	before := time.Now()
	var after runAnswer
	code, raw := hs.do("POST", "/runs/"+id+"/acknowledge", map[string]any{"ids": []string{"warn"}, "warnings": []string{"strict-warn"}, "by": "ana"}, &after)
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, runner.GateNeedsAck, after.Decision.Gate, "fail still needs one")
	assert.False(t, after.DeployAllowed)
	assert.False(t, hs.h.DeployAllowed(id))
	code, raw = hs.do("POST", "/runs/"+id+"/acknowledge", map[string]any{"ids": []string{"fail"}, "by": "bo"}, &after)
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, runner.GatePass, after.Decision.Gate)
	assert.True(t, after.DeployAllowed)
	assert.True(t, hs.h.DeployAllowed(id), "deploy is allowed once everything is acknowledged")
	for _, want := range []struct {
		id, by  string
		warning bool
	}{{"warn", "ana", false}, {"strict-warn", "ana", true}, {"fail", "bo", false}} {
		r := requirementOf(t, after.Decision, want.id)
		require.True(t, r.Acknowledged, want.id)
		require.NotNil(t, r.Acknowledgment, want.id)
		assert.Equal(t, want.by, r.Acknowledgment.By, want.id)
		assert.Equal(t, want.warning, r.Acknowledgment.Warning, want.id)
		assert.WithinDuration(t, before, r.Acknowledgment.At, time.Minute, want.id)
	}
	assert.Equal(t, after, hs.get(id), "GET shows the acknowledged decision")
	assert.Contains(t, raw, `"acknowledgment":{"by":"bo","at":"`)
	_, ch := hs.stream(t.Context(), id, "")
	evs := all(t, ch)
	assert.Equal(t, after, doneOf(t, evs[len(evs)-1]), "the done event carries the decision as it is now")
}

// TestAcknowledgeRefused: a strict failure cannot be acknowledged (409, the gate stays
// blocked), nor a run that is running or was canceled; bad bodies are 400.
func TestAcknowledgeRefused(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("strict-fail", `{name: strict-fail, codes: [1]}`, "  strict: true\n"),
		step("fail", `{name: fail, codes: [1]}`, ""),
	), Options{})
	id := hs.wait(hs.start(nil)).ID
	tests := []struct {
		name string
		body any
		code int
		want string
	}{
		{"strict failure", map[string]any{"ids": []string{"strict-fail"}, "by": "ana"}, http.StatusConflict,
			`ids "strict-fail": the requirement is strict: its failures cannot be acknowledged`},
		{"strict failure as a warning", map[string]any{"warnings": []string{"strict-fail"}, "by": "ana"}, http.StatusConflict,
			`warnings "strict-fail": the requirement is strict and its status is fail: nothing can acknowledge it`},
		{"with a good one", map[string]any{"ids": []string{"fail", "strict-fail"}, "by": "ana"}, http.StatusConflict, `ids "strict-fail"`},
		{"unknown id", map[string]any{"ids": []string{"nope"}, "by": "ana"}, http.StatusBadRequest, `ids "nope": the decision has no requirement with that id`},
		{"failure as a warning", map[string]any{"warnings": []string{"fail"}, "by": "ana"}, http.StatusBadRequest, `warnings "fail": its status is fail, not warn`},
		{"no by", map[string]any{"ids": []string{"fail"}}, http.StatusBadRequest, "by: required"},
		{"nothing", map[string]any{"by": "ana"}, http.StatusBadRequest, "nothing to acknowledge"},
		{"unknown field", `{"ids": ["fail"], "by": "ana", "who": "x"}`, http.StatusBadRequest, `unknown field "who"`},
		{"by too long", map[string]any{"ids": []string{"fail"}, "by": strings.Repeat("a", 300)}, http.StatusBadRequest, "by: longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct{ Error string }
			code, raw := hs.do("POST", "/runs/"+id+"/acknowledge", tt.body, &out)
			assert.Equal(t, tt.code, code, raw)
			assert.Contains(t, out.Error, tt.want)
			a := hs.get(id)
			assert.Equal(t, runner.GateBlocked, a.Decision.Gate, "the gate stays blocked")
			assert.False(t, requirementOf(t, a.Decision, "fail").Acknowledged, "nothing is acknowledged when anything is refused")
		})
	}
	code, _ := hs.do("POST", "/runs/nope/acknowledge", map[string]any{"ids": []string{"fail"}, "by": "ana"}, nil)
	assert.Equal(t, http.StatusNotFound, code)

	// Running, then canceled.
	hs2 := newHarness(t, specYAML(step("held", `{name: held, wait: true, codes: [2]}`, "")), Options{})
	running := hs2.start(nil)
	var out struct{ Error string }
	code, _ = hs2.do("POST", "/runs/"+running+"/acknowledge", map[string]any{"ids": []string{"held"}, "by": "ana"}, &out)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out.Error, "still running")
	code, _ = hs2.do("DELETE", "/runs/"+running, nil, nil)
	require.Equal(t, http.StatusOK, code)
	code, _ = hs2.do("POST", "/runs/"+running+"/acknowledge", map[string]any{"ids": []string{"held"}, "by": "ana"}, &out)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out.Error, "was canceled")
}

// TestBadInputStartsNothing: every bad POST /runs is 400 (or 413, 415) naming the field, and
// no command runs.
func TestBadInputStartsNothing(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("a", `{name: a}`, ""),
		step("s", `{name: s}`, "  strict: true\n"),
	), Options{})
	tests := []struct {
		name        string
		body        string
		contentType string
		code        int
		want        string
	}{
		{"unknown field", `{"phaze": "upgrade"}`, "", http.StatusBadRequest, `unknown field "phaze"`},
		{"field in the wrong case", `{"Phase": "upgrade"}`, "", http.StatusBadRequest, `unknown field "Phase"`},
		{"repeated field", `{"phase": "upgrade", "phase": "install"}`, "", http.StatusBadRequest, `duplicate field "phase"`},
		{"unknown phase", `{"phase": "rollback"}`, "", http.StatusBadRequest, `phase "rollback": must be install, upgrade, post-install or post-upgrade`},
		{"previous version not semver", `{"previous_version": "1.9"}`, "", http.StatusBadRequest, `previous_version "1.9": not a semantic version`},
		{"app version not semver", `{"app_version": "latest"}`, "", http.StatusBadRequest, `app_version "latest": not a semantic version`},
		{"strict ack", `{"acknowledge": ["s"]}`, "", http.StatusBadRequest, `acknowledge "s": the requirement is strict`},
		{"unknown ack", `{"acknowledge": ["a", "nope"]}`, "", http.StatusBadRequest, `acknowledge "nope": the spec has no requirement with that id`},
		{"unknown warning ack", `{"acknowledge_warnings": ["nope"]}`, "", http.StatusBadRequest, `acknowledge_warnings "nope": the spec has no requirement with that id`},
		{"vars not an object", `{"vars": [1]}`, "", http.StatusBadRequest, `vars: must be an object`},
		{"ack not a list", `{"acknowledge": "a"}`, "", http.StatusBadRequest, `acknowledge: must be a list of strings`},
		{"not an object", `[]`, "", http.StatusBadRequest, `body: must be a JSON object`},
		{"broken JSON", `{"phase": `, "", http.StatusBadRequest, `body: not valid JSON`},
		{"not JSON", `phase=upgrade`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, `Content-Type must be application/json`},
		{"too large", `{"vars": {"x": "` + strings.Repeat("a", maxBodyBytes) + `"}}`, "", http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", hs.srv.URL+prefix+"/runs", strings.NewReader(tt.body))
			require.NoError(t, err)
			ct := tt.contentType
			if ct == "" {
				ct = "application/json; charset=utf-8"
			}
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var out struct{ Error string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			assert.Equal(t, tt.code, resp.StatusCode, out.Error)
			assert.Contains(t, out.Error, tt.want)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		})
	}
	assert.Zero(t, hs.calls.Load(), "nothing ran")
	hs.h.mu.Lock()
	assert.Empty(t, hs.h.runs, "no run was created")
	hs.h.mu.Unlock()

	// Unknown ids, endpoints and methods answer JSON too.
	var out struct{ Error string }
	code, _ := hs.do("GET", "/runs/nope", nil, &out)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, out.Error, `no run "nope"`)
	code, _ = hs.do("GET", "/nothing", nil, &out)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = hs.do("PUT", "/runs/x", "{}", &out)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Contains(t, out.Error, "allowed: GET, DELETE")
	code, _ = hs.do("GET", "/runs", nil, &out)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
}

// TestRequestFieldsReachTheRun: vars merge over the handler's, phase and versions apply.
func TestRequestFieldsReachTheRun(t *testing.T) {
	hs := newHarness(t, specYAML(step("v", `{name: v}`,
		`  when: vars.tier == "prod" && vars.region == "eu" && phase == "upgrade" && app.version == "2.1.0" && app.previous_version == "1.9.3"
`)), Options{Runner: runner.Options{Vars: map[string]any{"tier": "dev", "region": "eu"}}})
	a := hs.wait(hs.start(map[string]any{"vars": map[string]any{"tier": "prod"}, "phase": "upgrade", "app_version": "2.1.0", "previous_version": "1.9.3"}))
	assert.Equal(t, runner.StatusPass, a.Decision.Requirements[0].Status, "when held: %v", a.Decision.Requirements[0].Notes)
	a = hs.wait(hs.start(nil))
	assert.Equal(t, runner.StatusSkipped, a.Decision.Requirements[0].Status, "the handler's vars and the install phase")
}

// TestCancel: DELETE cancels a running run and answers once it ended; the stream ends with
// a canceled done event; DELETE again is the same answer; a done run cannot be canceled.
func TestCancel(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("held", `{name: held, wait: true}`, ""),
		step("after", `{name: after}`, "  depends_on: [held]\n"),
	), Options{})
	id := hs.start(nil)
	_, ch := hs.stream(t.Context(), id, "")
	require.Equal(t, "started", next(t, ch).Type)
	var a runAnswer
	code, raw := hs.do("DELETE", "/runs/"+id, nil, &a)
	require.Equal(t, http.StatusOK, code, raw)
	assert.Equal(t, "canceled", a.State)
	assert.Equal(t, runner.GateBlocked, a.Decision.Gate)
	assert.Contains(t, a.Decision.Error, "run interrupted: cancelled by DELETE")
	assert.False(t, a.DeployAllowed)
	assert.Contains(t, requirementOf(t, a.Decision, "held").Error, "cancelled by DELETE")
	assert.Equal(t, runner.StatusFail, requirementOf(t, a.Decision, "after").Status, "not started: fails")
	evs := all(t, ch)
	assert.Equal(t, "canceled", doneOf(t, evs[len(evs)-1]).State)
	code, _ = hs.do("DELETE", "/runs/"+id, nil, &a)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "canceled", a.State)

	hs.release("held")
	done := hs.wait(hs.start(nil)).ID
	var out struct{ Error string }
	code, _ = hs.do("DELETE", "/runs/"+done, nil, &out)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out.Error, "already done")
	code, _ = hs.do("DELETE", "/runs/nope", nil, nil)
	assert.Equal(t, http.StatusNotFound, code)
}

// TestDisconnectDoesNotStopOrLeak: watchers that go away stop neither the run nor leave a
// goroutine behind; the run goes on and ends; the goroutine count comes back to where it was.
func TestDisconnectDoesNotStopOrLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		hs := newHarness(t, specYAML(step("held", `{name: held, wait: true}`, "")), Options{})
		hs.h.keepAlive = time.Hour // only the disconnect itself can end the streams
		id := hs.start(nil)
		var cancels []context.CancelFunc
		for range 5 {
			ctx, cancel := context.WithCancel(context.Background())
			cancels = append(cancels, cancel)
			_, ch := hs.stream(ctx, id, "")
			require.Equal(t, "started", next(t, ch).Type)
		}
		for _, c := range cancels {
			c()
		}
		// The handler's stream goroutines see the disconnect and return.
		waitGoroutines(t, func(n int) bool { return !hasStreamGoroutine() })
		assert.Equal(t, "running", hs.get(id).State, "the run goes on without its watchers")
		hs.release("held")
		a := hs.wait(id)
		assert.Equal(t, "done", a.State)
		assert.Equal(t, runner.GatePass, a.Decision.Gate)
		hs.h.Close(context.Background())
		hs.srv.Close()
		http.DefaultClient.CloseIdleConnections()
	}()
	waitGoroutines(t, func(n int) bool { return n <= base })
}

// hasStreamGoroutine reports whether a goroutine is inside the handler's event stream.
func hasStreamGoroutine() bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Contains(string(buf[:n]), "gatehttp.(*Handler).events")
}

func waitGoroutines(t *testing.T, ok func(n int) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(runtime.NumGoroutine()) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines did not come back (%d now):\n%s", runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRetention: finished runs are dropped past the retention, and beyond MaxRuns the
// oldest first; running runs stay.
func TestRetention(t *testing.T) {
	hs := newHarness(t, specYAML(step("a", `{name: a}`, ""), step("held", `{name: held, wait: true}`, "  when: vars.hold == true\n")),
		Options{MaxRuns: 2, Retention: time.Hour, MaxRunning: 10})
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hs.h.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	held := hs.start(map[string]any{"vars": map[string]any{"hold": true}})
	var ids []string
	for range 3 {
		ids = append(ids, hs.wait(hs.start(nil)).ID)
		advance(time.Minute)
	}
	code, _ := hs.do("GET", "/runs/"+ids[0], nil, nil)
	assert.Equal(t, http.StatusNotFound, code, "the oldest of three finished runs is dropped (MaxRuns 2)")
	for _, id := range ids[1:] {
		code, _ = hs.do("GET", "/runs/"+id, nil, nil)
		assert.Equal(t, http.StatusOK, code)
	}
	advance(time.Hour)
	for _, id := range ids[1:] {
		code, _ = hs.do("GET", "/runs/"+id, nil, nil)
		assert.Equal(t, http.StatusNotFound, code, "dropped an hour after it ended")
	}
	assert.Equal(t, "running", hs.get(held).State, "a running run is never dropped")
	hs.release("held")
	hs.wait(held)
	advance(59 * time.Minute)
	assert.Equal(t, "done", hs.get(held).State, "kept for the retention after it ended")
	hs.h.mu.Lock()
	assert.Len(t, hs.h.runs, 1)
	hs.h.mu.Unlock()
}

// TestMaxRunningAndClose: beyond MaxRunning a start is 429; Close cancels what runs and
// refuses new runs.
func TestMaxRunningAndClose(t *testing.T) {
	hs := newHarness(t, specYAML(step("held", `{name: held, wait: true}`, "")), Options{MaxRunning: 1})
	id := hs.start(nil)
	var out struct{ Error string }
	code, _ := hs.do("POST", "/runs", "{}", &out)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Contains(t, out.Error, "1 runs are running")
	_, ch := hs.stream(t.Context(), id, "")
	require.NoError(t, hs.h.Close(context.Background()))
	evs := all(t, ch)
	assert.Equal(t, "canceled", doneOf(t, evs[len(evs)-1]).State, "Close cancels the runs; their streams end")
	a := hs.get(id)
	assert.Equal(t, "canceled", a.State)
	assert.Contains(t, a.Decision.Error, "the console is shutting down")
	code, _ = hs.do("POST", "/runs", "{}", &out)
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

// TestConcurrentRunsAreIsolated runs two runs at once with different vars: each has its own
// events and decision.
func TestConcurrentRunsAreIsolated(t *testing.T) {
	hs := newHarness(t, specYAML(
		step("prod-only", `{name: prod-only, wait: true}`, "  when: vars.tier == \"prod\"\n"),
		step("always", `{name: always, codes: [2]}`, ""),
	), Options{})
	prod := hs.start(map[string]any{"vars": map[string]any{"tier": "prod"}, "acknowledge": []string{"always"}})
	dev := hs.start(map[string]any{"vars": map[string]any{"tier": "dev"}})
	d := hs.wait(dev)
	assert.Equal(t, runner.GateNeedsAck, d.Decision.Gate)
	assert.Equal(t, runner.StatusSkipped, requirementOf(t, d.Decision, "prod-only").Status)
	assert.Equal(t, "running", hs.get(prod).State, "the other run is not touched")
	hs.release("prod-only")
	p := hs.wait(prod)
	assert.Equal(t, runner.GatePass, p.Decision.Gate)
	assert.NotEqual(t, p.Decision.RunID, d.Decision.RunID)
	_, ch := hs.stream(t.Context(), dev, "")
	var got []string
	for _, e := range all(t, ch) {
		if e.Type == "done" {
			continue
		}
		ev := eventOf(t, e)
		s := string(ev.Type) + " " + ev.RequirementID
		if ev.Result != nil {
			s += " " + string(ev.Result.Status)
		}
		got = append(got, s)
	}
	assert.ElementsMatch(t, []string{"started prod-only", "finished prod-only skipped", "started always", "finished always warn"}, got,
		"dev's stream has only its own events")
}

// TestEventBytesBound: past MaxEventBytes, node events are dropped but started and finished
// stay, so a watcher still reaches the final states.
func TestEventBytesBound(t *testing.T) {
	hs := newHarness(t, specYAML(step("nodes", `{name: nodes, nodes: 40}`, "")), Options{MaxEventBytes: 4000})
	id := hs.start(nil)
	hs.wait(id)
	_, ch := hs.stream(t.Context(), id, "")
	evs := all(t, ch)
	var nodes int
	for _, e := range evs {
		if e.Type == "node" {
			nodes++
		}
	}
	assert.Greater(t, nodes, 0)
	assert.Less(t, nodes, 40, "node events past the bound are dropped")
	assert.Equal(t, "started", evs[0].Type)
	assert.Equal(t, "finished", evs[len(evs)-2].Type)
	assert.Len(t, eventOf(t, evs[len(evs)-2]).Result.Nodes, 40, "the finished event has every node")
	hs.h.mu.Lock()
	r := hs.h.runs[id]
	hs.h.mu.Unlock()
	r.mu.Lock()
	assert.LessOrEqual(t, r.eventBytes, 4000+len(evs[len(evs)-2].Data)+len(evs[0].Data))
	r.mu.Unlock()
}

func requirementOf(t *testing.T, d *runner.Decision, id string) *runner.RequirementResult {
	t.Helper()
	for i := range d.Requirements {
		if d.Requirements[i].ID == id {
			return &d.Requirements[i]
		}
	}
	t.Fatalf("no requirement %s", id)
	return nil
}
