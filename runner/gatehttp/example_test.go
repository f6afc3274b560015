package gatehttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner/gatehttp"
)

// Mount the handler under a console's prefix, start a run, follow its events to the end and
// read whether Deploy may be pressed.
func ExampleNew() {
	const spec = `
custom_requirements:
- id: shell-works
  message: A POSIX shell can run
  command:
    id: exec
    data:
      cmd: ["true"]
  results:
  - status: success
    message: The shell works.
    condition:
      status_code: 0
  - status: error
    message: The shell does not work.
`
	ctx := context.Background()
	s, err := requirement.Load(ctx, requirement.LoadOptions{}, requirement.Source{Name: "spec.yaml", Reader: strings.NewReader(spec)})
	if err != nil {
		log.Fatal(err)
	}
	gate, err := gatehttp.New(s, gatehttp.Options{Retention: gatehttp.DefaultRetention, MaxRuns: gatehttp.DefaultMaxRuns, MaxRunning: gatehttp.DefaultMaxRunning})
	if err != nil {
		log.Fatal(err)
	}
	defer gate.Close(ctx) // cancels what still runs
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", gate)) // behind the console's authentication
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/runs", "application/json", strings.NewReader(`{"phase": "install"}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.HasPrefix(resp.Header.Get("Location"), "/api/runs/"))

	// The event stream ends with the done event, whose data is the run's state.
	events, err := http.Get(srv.URL + resp.Header.Get("Location") + "/events")
	if err != nil {
		log.Fatal(err)
	}
	defer events.Body.Close()
	body, err := io.ReadAll(events.Body)
	if err != nil {
		log.Fatal(err)
	}
	var last string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "event: ") {
			fmt.Println(line)
		}
		if strings.HasPrefix(line, "data: ") {
			last = strings.TrimPrefix(line, "data: ")
		}
	}
	var run struct {
		State         string `json:"state"`
		DeployAllowed bool   `json:"deploy_allowed"`
	}
	if err := json.Unmarshal([]byte(last), &run); err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.State, run.DeployAllowed)
	// Output:
	// 201 true
	// event: started
	// event: finished
	// event: done
	// done true
}
