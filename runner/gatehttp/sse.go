package gatehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Timing of an event stream.
const (
	// keepAliveInterval is how often an idle stream gets a comment line, so that proxies
	// and browsers keep it open.
	keepAliveInterval = 15 * time.Second
	// streamWriteTimeout bounds each write to a watcher: one that does not read is dropped
	// (its request ends) rather than held forever.
	streamWriteTimeout = 30 * time.Second
)

// events is GET /runs/{id}/events: every event of the run so far, in order, then the live
// ones, then the done event.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	rn := h.lookup(w, r)
	if rn == nil {
		return
	}
	next := 0
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Last-Event-ID: %q is not an event id of this stream (a number from 1)", v))
			return
		}
		next = n
	}
	if evs, ended, _ := rn.since(0); ended && next > len(evs) {
		w.WriteHeader(http.StatusNoContent) // the done event was the last one: nothing follows
		return
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	log := h.log.With("run", rn.id)
	log.Debug("watcher connected", "remote", r.RemoteAddr, "last_event_id", next)
	write := func(s string) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": preflight run " + rn.id + "\n\n") {
		return
	}
	keepAlive := time.NewTicker(h.keepAlive)
	defer keepAlive.Stop()
	for {
		evs, ended, changed := rn.since(next)
		var b strings.Builder
		for _, e := range evs {
			next++
			fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: %s\n\n", next, e.typ, e.data)
		}
		if ended {
			data, _ := json.Marshal(rn.body(h.now()))
			fmt.Fprintf(&b, "id: %d\nevent: done\ndata: %s\n\n", next+1, data)
		}
		if b.Len() > 0 && !write(b.String()) {
			log.Debug("watcher gone", "remote", r.RemoteAddr)
			return
		}
		if ended {
			return
		}
		select {
		case <-changed:
		case <-keepAlive.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case <-r.Context().Done():
			log.Debug("watcher disconnected", "remote", r.RemoteAddr)
			return
		}
	}
}
