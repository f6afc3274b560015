package gatehttp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/preflightkit/preflight/command"
	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner"
)

// prefix is where the tests mount the handler, as a console would.
const prefix = "/console/api"

// harness runs a Handler behind a real HTTP server, with a spec whose `step` commands the
// test controls: each waits for its gate (when it names one), then exits with its code, or
// with the next of its codes on each call (retries), on its nodes (a fan-out) when it has
// some.
type harness struct {
	t     *testing.T
	h     *Handler
	srv   *httptest.Server
	calls atomic.Int32 // commands started
	mu    sync.Mutex
	gates map[string]chan struct{}
	seen  map[string]int // calls per step name
}

type stepData struct {
	Name  string `json:"name"`
	Wait  bool   `json:"wait"`
	Codes []int  `json:"codes"`
	Nodes int    `json:"nodes"`
}

func newHarness(t *testing.T, yaml string, opts Options) *harness {
	t.Helper()
	hs := &harness{t: t, gates: map[string]chan struct{}{}, seen: map[string]int{}}
	reg := command.Builtins()
	require.NoError(t, reg.Register("step", command.Func(func(data json.RawMessage, _ command.SpecContext) (command.Prepared, error) {
		var d stepData
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, err
		}
		return command.RunFunc(func(ctx context.Context, env *command.Env) (*command.Result, error) {
			return hs.run(ctx, env, d)
		}), nil
	})))
	spec, err := requirement.Load(context.Background(), requirement.LoadOptions{Registry: reg},
		requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(yaml)})
	require.NoError(t, err)
	hs.h, err = New(spec, opts)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, hs.h))
	hs.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.releaseAll()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, hs.h.Close(ctx))
		hs.srv.Close()
	})
	return hs
}

func (hs *harness) gate(name string) chan struct{} {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	g := hs.gates[name]
	if g == nil {
		g = make(chan struct{})
		hs.gates[name] = g
	}
	return g
}

// release lets the steps named name finish.
func (hs *harness) release(name string) { close(hs.gate(name)) }

func (hs *harness) releaseAll() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for name, g := range hs.gates {
		select {
		case <-g:
		default:
			close(g)
		}
		delete(hs.gates, name)
	}
}

func (hs *harness) run(ctx context.Context, env *command.Env, d stepData) (*command.Result, error) {
	hs.calls.Add(1)
	hs.mu.Lock()
	call := hs.seen[d.Name]
	hs.seen[d.Name]++
	hs.mu.Unlock()
	if d.Wait {
		select {
		case <-hs.gate(d.Name):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	code := 0
	if len(d.Codes) > 0 {
		code = d.Codes[min(call, len(d.Codes)-1)]
	}
	if d.Nodes == 0 {
		return &command.Result{Outputs: []command.Output{{StatusCode: code, Stdout: fmt.Sprintf("call %d", call+1)}}}, nil
	}
	if env.OnNodeScope != nil {
		env.OnNodeScope(d.Nodes)
	}
	outs := make([]command.Output, d.Nodes)
	for i := range outs {
		c := 0
		if i == d.Nodes-1 {
			c = code // the last node decides
		}
		outs[i] = command.Output{Node: fmt.Sprintf("node-%02d", i), StatusCode: c, Duration: time.Millisecond}
		if env.OnNodeDone != nil {
			env.OnNodeDone(outs[i])
		}
	}
	return &command.Result{Outputs: outs}, nil
}

// step is the YAML of one requirement running a step command.
func step(id string, data string, extra string) string {
	return fmt.Sprintf(`
- id: %s
  message: Requirement %s
%s  command:
    id: step
    timeout: -1
    data: %s
  results:
  - status: success
    message: "%s is fine."
    condition:
      status_code: 0
  - status: warn
    message: "%s warns."
    condition:
      status_code: 2
  - status: error
    message: "%s failed."
`, id, id, extra, data, id, id, id)
}

func specYAML(reqs ...string) string {
	return "custom_requirements:" + strings.Join(reqs, "")
}

// do sends a request to the handler under its prefix and decodes a JSON answer into out
// (when not nil); it returns the status and the raw body.
func (hs *harness) do(method, path string, body any, out any) (int, string) {
	hs.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			data, err := json.Marshal(body)
			require.NoError(hs.t, err)
			b = string(data)
		}
		rd = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, hs.srv.URL+prefix+path, rd)
	require.NoError(hs.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(hs.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(hs.t, err)
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		require.NoError(hs.t, json.Unmarshal(data, out), "%s %s: %s", method, path, data)
	}
	return resp.StatusCode, string(data)
}

// start starts a run and returns its id.
func (hs *harness) start(body any) string {
	hs.t.Helper()
	if body == nil {
		body = "{}"
	}
	var out struct{ ID string }
	code, raw := hs.do("POST", "/runs", body, &out)
	require.Equal(hs.t, http.StatusCreated, code, raw)
	require.NotEmpty(hs.t, out.ID)
	return out.ID
}

type runAnswer struct {
	ID            string           `json:"id"`
	State         string           `json:"state"`
	Decision      *runner.Decision `json:"decision"`
	DeployAllowed bool             `json:"deploy_allowed"`
}

func (hs *harness) get(id string) runAnswer {
	hs.t.Helper()
	var out runAnswer
	code, raw := hs.do("GET", "/runs/"+id, nil, &out)
	require.Equal(hs.t, http.StatusOK, code, raw)
	return out
}

// wait polls the run until it has ended.
func (hs *harness) wait(id string) runAnswer {
	hs.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := hs.get(id)
		if a.State != stateRunning {
			return a
		}
		require.True(hs.t, time.Now().Before(deadline), "run %s did not end", id)
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	ID   int
	Type string
	Data string
}

// stream opens the run's event stream; events arrive on the channel, which is closed when
// the stream ends. Cancelling ctx disconnects.
func (hs *harness) stream(ctx context.Context, id, lastID string) (*http.Response, <-chan sseEvent) {
	hs.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", hs.srv.URL+prefix+"/runs/"+id+"/events", nil)
	require.NoError(hs.t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(hs.t, err)
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Type != "" {
					ch <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.ID, _ = strconv.Atoi(strings.TrimPrefix(line, "id: "))
			case strings.HasPrefix(line, "event: "):
				e.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, ch
}

// all reads a stream to its end.
func all(t *testing.T, ch <-chan sseEvent) []sseEvent {
	t.Helper()
	var out []sseEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("the stream did not end; got %d events", len(out))
		}
	}
}

// next reads one event.
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		require.True(t, ok, "the stream ended early")
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no event came")
		return sseEvent{}
	}
}

func eventOf(t *testing.T, e sseEvent) runner.Event {
	t.Helper()
	var ev runner.Event
	require.NoError(t, json.Unmarshal([]byte(e.Data), &ev), e.Data)
	return ev
}

func doneOf(t *testing.T, e sseEvent) runAnswer {
	t.Helper()
	require.Equal(t, "done", e.Type)
	var a runAnswer
	require.NoError(t, json.Unmarshal([]byte(e.Data), &a), e.Data)
	return a
}
