package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/preflightkit/preflight/requirement"
	"github.com/preflightkit/preflight/runner/gatehttp"
)

// web holds the page: index.html, app.css and app.js.
//
//go:embed web
var web embed.FS

// console serves the page, the gate under /api/ and the console's own two endpoints.
type console struct {
	gate *gatehttp.Handler
	mux  *http.ServeMux
	spec specSummary
	log  *slog.Logger
}

// specSummary is GET /api/spec: what the page shows before a run.
type specSummary struct {
	Name         string               `json:"name"`
	Requirements []requirementSummary `json:"requirements"`
}

type requirementSummary struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
	Strict  bool   `json:"strict,omitempty"`
	Retry   bool   `json:"retry,omitempty"`
}

func newConsole(spec *requirement.Spec, name string, opts gatehttp.Options) (*console, error) {
	gate, err := gatehttp.New(spec, opts)
	if err != nil {
		return nil, err
	}
	c := &console{gate: gate, mux: http.NewServeMux(), spec: specSummary{Name: name}, log: opts.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range spec.Requirements {
		c.spec.Requirements = append(c.spec.Requirements, requirementSummary{
			ID: r.ID, Message: r.Message.Render(nil), Details: r.Details.Render(nil), Strict: r.Strict, Retry: r.Retry != nil,
		})
	}
	static, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(static)
	c.mux.Handle("GET /{$}", files)
	c.mux.Handle("GET /app.css", files)
	c.mux.Handle("GET /app.js", files)
	c.mux.HandleFunc("GET /api/spec", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.spec) })
	c.mux.HandleFunc("POST /api/deploy", c.deploy)
	c.mux.Handle("/api/", http.StripPrefix("/api", gate))
	return c, nil
}

// ServeHTTP serves the console with headers that keep the page to its own resources.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

// deploy is POST /api/deploy {"run": "id"}: the server's own check that the gate allows
// deploy, which the page's button only mirrors.
func (c *console) deploy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Run string `json:"run"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if r.Header.Get("Content-Type") != "application/json" || dec.Decode(&req) != nil || req.Run == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `send {"run": "<run id>"} as application/json`})
		return
	}
	if !c.gate.DeployAllowed(req.Run) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the gate of run " + req.Run + " does not allow deploy"})
		return
	}
	c.log.Info("deploy allowed", "run", req.Run)
	writeJSON(w, http.StatusOK, map[string]string{"message": "The gate allows deploy. This example console deploys nothing; a real console would start its upgrade here."})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
