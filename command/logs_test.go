package command

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogsPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		want    logsPrepared
		wantErr []string
	}{
		{name: "defaults", data: `{"label_selector":"app=csi-node"}`,
			want: logsPrepared{selector: "app=csi-node", since: 300}},
		{name: "everything", data: `{"namespace":"rok","label_selector":"app in (a, b)","container":"csi","since_seconds":60,"tail_lines":100}`,
			want: logsPrepared{namespace: "rok", selector: "app in (a,b)", container: "csi", since: 60, tail: ptrTo(int64(100))}},
		{name: "no data", data: ``, wantErr: []string{"data.label_selector: Required value: the labels of the pods to read"}},
		{name: "empty selector", data: `{"label_selector":""}`, wantErr: []string{"data.label_selector: Required value"}},
		{name: "bad selector", data: `{"label_selector":"app in (a"}`, wantErr: []string{"data.label_selector: Invalid value"}},
		{name: "since zero", data: `{"label_selector":"a=b","since_seconds":0}`, wantErr: []string{"data.since_seconds: Invalid value: must be from 1 to 2592000 (30 days), not 0"}},
		{name: "since too long", data: `{"label_selector":"a=b","since_seconds":2592001}`, wantErr: []string{"data.since_seconds:", "not 2592001"}},
		{name: "tail zero", data: `{"label_selector":"a=b","tail_lines":0}`, wantErr: []string{"data.tail_lines:", "must be from 1 to 100000, not 0"}},
		{name: "bad container", data: `{"label_selector":"a=b","container":"Csi_Node"}`, wantErr: []string{`data.container: Invalid value: "Csi_Node" is not a container name`}},
		{name: "bad namespace", data: `{"label_selector":"a=b","namespace":"a/b"}`, wantErr: []string{`data.namespace:`}},
		{name: "unknown field", data: `{"label_selector":"a=b","follow":true}`, wantErr: []string{"data.follow: Invalid value", "unknown field (known fields: container, label_selector, namespace, since_seconds, tail_lines"}},
		{name: "wrong type", data: `{"label_selector":"a=b","since_seconds":"30"}`, wantErr: []string{"data.since_seconds: Invalid value", "must be an integer, not string"}},
		{name: "all problems at once", data: `{"label_selector":"","since_seconds":-1,"tail_lines":-1}`, wantErr: []string{"data.label_selector", "data.since_seconds", "data.tail_lines"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, ok := prepareOrFail(t, logsCommand{}, tt.data, tt.wantErr)
			if !ok {
				return
			}
			assert.Equal(t, &tt.want, p)
			assert.True(t, p.(interface{ UsesCluster() bool }).UsesCluster())
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// prepareOrFail prepares data with c. With wantErr it checks that Prepare fails with every
// substring of wantErr and returns false; without, that it succeeds.
func prepareOrFail(t *testing.T, c Command, data string, wantErr []string) (Prepared, bool) {
	t.Helper()
	p, err := c.Prepare(json.RawMessage(data), SpecContext{})
	if len(wantErr) > 0 {
		require.Error(t, err)
		assert.Nil(t, p)
		for _, w := range wantErr {
			assert.Contains(t, err.Error(), w)
		}
		return nil, false
	}
	require.NoError(t, err)
	return p, true
}

// assertAge checks an age in seconds that should be want at the moment the test set its
// logs up (setup): the server's time is known to within a second, never ahead of it (the
// Date header holds whole seconds), and has moved on since setup by the test's own pace.
func assertAge(t *testing.T, got any, want int64, setup time.Time, msg ...any) {
	t.Helper()
	g, ok := got.(int64)
	require.True(t, ok, "an integer age, not %T", got)
	slack := int64(time.Since(setup)/time.Second) + 1
	assert.GreaterOrEqual(t, g, want-1, msg...)
	assert.LessOrEqual(t, g, want+slack, msg...)
}

// runLogs prepares data and runs it against s.
func runLogs(t *testing.T, s *testAPIServer, data string, limit int) (*Result, error) {
	t.Helper()
	p, err := logsCommand{}.Prepare(json.RawMessage(data), SpecContext{})
	require.NoError(t, err)
	return p.Run(context.Background(), s.env(limit))
}

// logsOutput returns the output's pods by name and quiet_seconds.
func logsOutput(t *testing.T, res *Result) (map[string]map[string]any, int64) {
	t.Helper()
	require.Len(t, res.Outputs, 1)
	obj := res.Outputs[0].Object.(map[string]any)
	pods := map[string]map[string]any{}
	for _, p := range obj["pods"].([]any) {
		m := p.(map[string]any)
		pods[m["name"].(string)] = m
	}
	return pods, obj["quiet_seconds"].(int64)
}

// TestLogsQuiet: quiet_seconds is the age of the newest line of any pod; with no line in the
// window, the time since the oldest pod started, at most since_seconds; a container that
// restarted counts as active when it restarted. Ages use the API server's clock.
func TestLogsQuiet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		skew  time.Duration // server clock minus the test's
		setup func(s *testAPIServer)
		data  string
		quiet int64
		last  map[string]any // last_line_seconds_ago by pod
		lines map[string]int64
	}{
		{name: "newest line of any pod",
			setup: func(s *testAPIServer) {
				old := s.now().Add(-time.Hour)
				s.addPod("csi-a", map[string]string{"app": "csi"}, old, 0)
				s.addPod("csi-b", map[string]string{"app": "csi"}, old, 0)
				s.addPod("other", map[string]string{"app": "other"}, old, 0)
				s.log("csi-a", 100*time.Second, "draining 1")
				s.log("csi-a", 90*time.Second, "draining 2")
				s.log("csi-b", 42*time.Second, "drained")
				s.log("other", 1*time.Second, "busy")
			},
			data: `{"label_selector":"app=csi"}`, quiet: 42,
			last: map[string]any{"csi-a": int64(90), "csi-b": int64(42)}, lines: map[string]int64{"csi-a": 2, "csi-b": 1}},
		{name: "lines older than the window are not read",
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
				s.log("csi-a", 100*time.Second, "old")
			},
			data: `{"label_selector":"app=csi","since_seconds":60}`, quiet: 60,
			last: map[string]any{"csi-a": nil}, lines: map[string]int64{"csi-a": 0}},
		{name: "nothing logged: since the oldest pod started",
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-20*time.Second), 0)
				s.addPod("csi-b", map[string]string{"app": "csi"}, s.now().Add(-5*time.Second), 0)
			},
			data: `{"label_selector":"app=csi"}`, quiet: 20,
			last: map[string]any{"csi-a": nil, "csi-b": nil}},
		{name: "a restart is activity",
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
				s.addPod("csi-b", map[string]string{"app": "csi"}, s.now().Add(-7*time.Second), 3)
				s.log("csi-a", 50*time.Second, "x")
			},
			data: `{"label_selector":"app=csi"}`, quiet: 7},
		{name: "the server's clock, not this host's",
			skew: -time.Hour,
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
				s.log("csi-a", 35*time.Second, "drained")
			},
			data: `{"label_selector":"app=csi"}`, quiet: 35, last: map[string]any{"csi-a": int64(35)}},
		{name: "a fast host clock does not make the pods look quiet",
			skew: 10 * time.Minute,
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
				s.log("csi-a", 3*time.Second, "still draining")
			},
			data: `{"label_selector":"app=csi"}`, quiet: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestAPIServer(t)
			s.skew = tt.skew
			setup := time.Now()
			tt.setup(s)
			res, err := runLogs(t, s, tt.data, 0)
			require.NoError(t, err)
			pods, quiet := logsOutput(t, res)
			assertAge(t, quiet, tt.quiet, setup, "quiet_seconds")
			for name, want := range tt.last {
				require.Contains(t, pods, name)
				if want == nil {
					assert.Nil(t, pods[name]["last_line_seconds_ago"], name)
				} else {
					assertAge(t, pods[name]["last_line_seconds_ago"], want.(int64), setup, name)
				}
			}
			for name, want := range tt.lines {
				assert.Equal(t, want, pods[name]["lines"], name)
			}
			for _, p := range pods {
				assert.Equal(t, "n1", p["node"])
				assert.Equal(t, "c", p["container"])
				assert.Equal(t, false, p["truncated"])
			}
			assert.Equal(t, 0, res.Outputs[0].StatusCode)
			assert.False(t, res.Outputs[0].Truncated)
			assert.Empty(t, res.Notes)
		})
	}
}

// TestLogsStdout: stdout merges the pods' lines by time, with kubectl's prefix and the API's
// timestamps.
func TestLogsStdout(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	s.addPod("b", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
	s.addPod("a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
	s.log("a", 30*time.Second, "first")
	s.log("b", 20*time.Second, "second")
	s.log("a", 10*time.Second, "third")
	res, err := runLogs(t, s, `{"label_selector":"app=csi"}`, 0)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(res.Outputs[0].Stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	for i, want := range []string{"[pod/a/c] ", "[pod/b/c] ", "[pod/a/c] "} {
		assert.True(t, strings.HasPrefix(lines[i], want), lines[i])
	}
	assert.Regexp(t, `^\[pod/a/c\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z first$`, lines[0])
	assert.True(t, strings.HasSuffix(lines[2], " third"))
}

func TestLogsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(s *testAPIServer)
		data    string
		want    []string
		noReads bool // no pod list or log request may have been made
	}{
		{name: "no pod matches", data: `{"label_selector":"app=csi"}`,
			setup: func(s *testAPIServer) { s.addPod("x", map[string]string{"app": "other"}, s.now(), 0) },
			want:  []string{`no pod in namespace "default" matches label selector "app=csi"`}},
		{name: "a pod whose logs cannot be read", data: `{"label_selector":"app=csi"}`,
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now(), 0)
				s.addPod("csi-b", map[string]string{"app": "csi"}, s.now(), 0)
				s.logErr["csi-b"] = `container "c" in pod "csi-b" is waiting to start: ContainerCreating`
			},
			want: []string{`cannot read the logs of 1 of 2 pods in namespace "default": csi-b: container "c" in pod "csi-b" is waiting to start: ContainerCreating`}},
		{name: "a container the pod lacks", data: `{"label_selector":"app=csi","container":"csi"}`,
			setup: func(s *testAPIServer) { s.addPod("csi-a", map[string]string{"app": "csi"}, s.now(), 0) },
			want:  []string{`csi-a: the pod has no container "csi" (it has: c)`}},
		{name: "too many pods", data: `{"label_selector":"app=csi"}`,
			setup: func(s *testAPIServer) {
				for i := range logsMaxPods + 1 {
					s.addPod(fmt.Sprintf("csi-%04d", i), map[string]string{"app": "csi"}, s.now(), 0)
				}
			},
			want: []string{`more than 1000 pods in namespace "default" match label selector "app=csi"`, "narrow the selector"}},
		{name: "permission denied", data: `{"label_selector":"app=csi"}`,
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now(), 0)
				s.deny["get /pods/log default"] = true
			},
			want:    []string{`insufficient permissions in namespace "default": cannot get pods/log (no RBAC policy matched); nothing was created`},
			noReads: true},
		{name: "permission unknown", data: `{"label_selector":"app=csi"}`,
			setup: func(s *testAPIServer) {
				s.addPod("csi-a", map[string]string{"app": "csi"}, s.now(), 0)
				s.ssarErr = true
			},
			want:    []string{"could not verify permission to list pods", "could not verify permission to get pods/log"},
			noReads: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestAPIServer(t)
			tt.setup(s)
			res, err := runLogs(t, s, tt.data, 0)
			require.Error(t, err, "an error, never a pass")
			assert.Nil(t, res)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.noReads {
				var pe *PermissionError
				assert.ErrorAs(t, err, &pe)
				assert.Zero(t, s.lists.Load(), "permissions are checked before the first request")
				assert.Zero(t, s.logRequests.Load())
			}
		})
	}
}

// TestLogsLimits: many pods, huge lines and long logs are read within the limits; a cut read
// still finds the newest line (quiet_seconds is never computed from an old part of the log)
// and is marked truncated.
func TestLogsLimits(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	t.Run("many pods share the output limit", func(t *testing.T) {
		t.Parallel()
		s := newTestAPIServer(t)
		const pods = 200
		setup := time.Now()
		for i := range pods {
			name := fmt.Sprintf("csi-%03d", i)
			s.addPod(name, map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
			for j := range 100 {
				s.log(name, time.Duration(200-j)*time.Second, strings.Repeat("x", 90))
			}
		}
		res, err := runLogs(t, s, `{"label_selector":"app=csi"}`, limit)
		require.NoError(t, err)
		out := res.Outputs[0]
		byName, quiet := logsOutput(t, res)
		assertAge(t, quiet, 101, setup, "the newest line was found although the reads were cut")
		for _, p := range byName {
			assert.Equal(t, true, p["truncated"])
			assert.Less(t, p["lines"].(int64), int64(100))
			assertAge(t, p["last_line_seconds_ago"], 101, setup)
		}
		assert.True(t, out.Truncated, "a cut read is truncated output")
		assert.LessOrEqual(t, len(out.Stdout), limit)
		assert.True(t, strings.HasSuffix(out.Stdout, strings.Repeat("x", 90)+"\n"), "stdout ends with the newest lines")
		// Each pod reads logsMinPodBytes (4 KiB) per request: the window, then its tail.
		assert.LessOrEqual(t, s.logBytes.Load(), int64(pods*3*(logsMinPodBytes+1)))
	})
	t.Run("a huge line", func(t *testing.T) {
		t.Parallel()
		s := newTestAPIServer(t)
		setup := time.Now()
		s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
		s.log("csi-a", 50*time.Second, "small")
		s.log("csi-a", 40*time.Second, strings.Repeat("y", 4<<20)) // 4 MiB in one line
		res, err := runLogs(t, s, `{"label_selector":"app=csi"}`, limit)
		require.NoError(t, err)
		out := res.Outputs[0]
		byName, quiet := logsOutput(t, res)
		assertAge(t, quiet, 40, setup)
		assert.Equal(t, int64(1), byName["csi-a"]["lines"], "the huge line, cut: its timestamp comes first")
		assert.True(t, out.Truncated)
		assert.LessOrEqual(t, len(out.Stdout), limit)
		assert.LessOrEqual(t, s.logBytes.Load(), int64(4*(limit+1)), "never more than a few budgets read")
	})
	t.Run("many lines", func(t *testing.T) {
		t.Parallel()
		s := newTestAPIServer(t)
		setup := time.Now()
		s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
		for j := range 20000 {
			s.log("csi-a", time.Duration(20000-j)*time.Millisecond, fmt.Sprint("line ", j))
		}
		res, err := runLogs(t, s, `{"label_selector":"app=csi","since_seconds":3600}`, limit)
		require.NoError(t, err)
		out := res.Outputs[0]
		assert.True(t, out.Truncated)
		assert.True(t, strings.HasSuffix(out.Stdout, " line 19999\n"), "the tail is the newest lines")
		_, quiet := logsOutput(t, res)
		assertAge(t, quiet, 0, setup)
		assert.LessOrEqual(t, s.logBytes.Load(), int64(20*(limit+1)))
	})
	t.Run("tail_lines is a cap the author chose, not a truncation", func(t *testing.T) {
		t.Parallel()
		s := newTestAPIServer(t)
		setup := time.Now()
		s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
		for j := range 10 {
			s.log("csi-a", time.Duration(100-j)*time.Second, fmt.Sprint("line ", j))
		}
		res, err := runLogs(t, s, `{"label_selector":"app=csi","tail_lines":3}`, limit)
		require.NoError(t, err)
		byName, quiet := logsOutput(t, res)
		assert.Equal(t, int64(3), byName["csi-a"]["lines"])
		assertAge(t, quiet, 91, setup)
		assert.False(t, res.Outputs[0].Truncated)
		assert.Equal(t, 3, strings.Count(res.Outputs[0].Stdout, "\n"))
	})
	t.Run("the output limit cuts stdout", func(t *testing.T) {
		t.Parallel()
		s := newTestAPIServer(t)
		s.addPod("csi-a", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
		s.addPod("csi-b", map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
		for j := range 30 {
			s.log("csi-a", time.Duration(100-j)*time.Second, strings.Repeat("a", 100))
			s.log("csi-b", time.Duration(100-j)*time.Second, strings.Repeat("b", 100))
		}
		// Each pod's 30 lines (about 4 KiB) fit its read, but not the 4 KiB stdout together.
		res, err := runLogs(t, s, `{"label_selector":"app=csi"}`, 4<<10)
		require.NoError(t, err)
		out := res.Outputs[0]
		byName, _ := logsOutput(t, res)
		assert.Equal(t, false, byName["csi-a"]["truncated"])
		assert.True(t, out.Truncated, "lines left out of stdout are truncation")
		assert.LessOrEqual(t, len(out.Stdout), 4<<10)
	})
}

// TestLogsConcurrency: many pods are read at once, never more than logsConcurrency.
func TestLogsConcurrency(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	for i := range 50 {
		s.addPod(fmt.Sprintf("csi-%02d", i), map[string]string{"app": "csi"}, s.now().Add(-time.Hour), 0)
	}
	var mu sync.Mutex
	inFlight, most := 0, 0
	full := make(chan struct{})
	var once sync.Once
	s.logGate = func() {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == logsConcurrency {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		select {
		case <-full: // the first logsConcurrency requests wait for each other
		case <-time.After(10 * time.Second): // hang guard only
		}
		// Stay a moment, so that a request past the bound, if the command sent one, would
		// be seen in flight.
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	_, err := runLogs(t, s, `{"label_selector":"app=csi"}`, 0)
	require.NoError(t, err)
	assert.Equal(t, logsConcurrency, most)
	assert.EqualValues(t, 50, s.logRequests.Load())
}

// TestServerClock: the server's time is learnt from Date headers, never ahead of it: the
// largest estimate wins; without a header the host's clock is used, and said so.
func TestServerClock(t *testing.T) {
	t.Parallel()
	var c serverClock
	_, known := c.now()
	assert.False(t, known)
	local := time.Now()
	server := local.Add(-time.Hour).Truncate(time.Second)
	c.observe(server.Format(http.TimeFormat), local)                     // offset -1h
	c.observe(server.Add(-3*time.Second).Format(http.TimeFormat), local) // a slower answer: -1h-3s
	c.observe("not a date", local)                                       // ignored
	c.observe("", local)                                                 // ignored
	now, known := c.now()
	require.True(t, known)
	d := now.Sub(server)
	assert.True(t, d >= 0 && d < time.Minute, "the closest estimate wins: %v", d)
}

func TestLogsNeedsCluster(t *testing.T) {
	t.Parallel()
	p, err := logsCommand{}.Prepare(json.RawMessage(`{"label_selector":"a=b"}`), SpecContext{})
	require.NoError(t, err)
	_, err = p.Run(context.Background(), &Env{})
	assert.ErrorContains(t, err, "the logs command needs a cluster")
}

// TestCheckAccessRemembersGrants: a granted permission set is checked once per run; a denial
// is asked again, so that a grant made while a requirement retries is seen.
func TestCheckAccessRemembersGrants(t *testing.T) {
	t.Parallel()
	s := newTestAPIServer(t)
	s.addPod("csi-a", map[string]string{"app": "csi"}, s.now(), 0)
	s.deny["get /pods/log default"] = true
	p, err := logsCommand{}.Prepare(json.RawMessage(`{"label_selector":"app=csi"}`), SpecContext{})
	require.NoError(t, err)
	env := s.env(0)
	_, err = p.Run(context.Background(), env)
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	s.mu.Lock()
	delete(s.deny, "get /pods/log default")
	s.mu.Unlock()
	for range 3 {
		_, err = p.Run(context.Background(), env)
		require.NoError(t, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Len(t, s.ssars, 4, "two reviews for the denial, two for the grant, none after")
}
