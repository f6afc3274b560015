// Package gatehttp puts HTTP in front of a runner.Runner: an http.Handler that an admin
// console mounts under any prefix (http.StripPrefix) to run one spec in the background,
// stream each run's progress to a web page, take acknowledgments after the run and say
// whether Deploy may be pressed. Bodies are JSON with snake_case names; errors are
// {"error": "..."} naming the field at fault.
//
//	POST   /runs                  start a run: 201, {"id": "..."}, Location: .../runs/{id}
//	GET    /runs/{id}             {"id", "state", "decision", "deploy_allowed"}
//	GET    /runs/{id}/events      Server-Sent Events: started, node, attempt, finished, done
//	POST   /runs/{id}/acknowledge {"ids": [...], "warnings": [...], "by": "name"}
//	DELETE /runs/{id}             cancel a running run; its pods are deleted
//
// POST /runs takes {"vars": {...}, "phase": "install|upgrade", "app_version": "...",
// "previous_version": "...", "acknowledge": [...], "acknowledge_warnings": [...]}, every
// field optional, decoded strictly (an unknown or repeated field is an error). Bad input (an
// unknown field, an unknown phase, acknowledging a strict or unknown id) is 400 and nothing
// starts; more than Options.MaxRunning runs at once is 429. The request's fields replace the
// options of the same name in Options.Runner, and vars are merged key by key over
// Options.Runner.Vars.
//
// state is running, done or canceled (DELETE, or Close). decision is the runner.Decision as
// `preflight run -o json` prints it; while the run is running it holds the requirements
// finished so far and its gate is blocked. deploy_allowed is true only when the run is done
// and its gate is pass, after acknowledgments.
//
// The event stream gives every event of the run from the beginning, in order, then the live
// ones, then one done event whose data is the GET /runs/{id} body (acknowledgments included)
// and the stream ends. Each event's data is a runner.Event as JSON and its SSE id numbers it
// from 1: a client that reconnects with Last-Event-ID gets only what follows (204 when the
// done event was its last). Any number of clients may watch one run; a client that goes
// away, reads slowly or never reads changes nothing for the run or the others.
//
// POST /runs/{id}/acknowledge accepts, on a done run, what its decision asks for
// (runner.Decision.Acknowledge: ids as Options.Acknowledge takes them, warnings as
// Options.AcknowledgeWarnings) without running anything, records who (by, required) and
// when, and answers the new GET /runs/{id} body. Acknowledging a strict requirement's
// failure is 409 and the gate stays blocked; so is acknowledging a run that is running or
// was canceled.
//
// Runs do not depend on the requests that started or watch them: a run goes on when every
// client is gone, and ends when it is done, on DELETE, or on Close. Finished runs are kept
// for Options.Retention and at most Options.MaxRuns of them (the oldest go first); then
// their id is 404. Each run has its own runner, options and events. The handler does not
// authenticate: mount it behind the console's own authentication. POST bodies must be
// application/json (415 otherwise), which a cross-site form cannot send.
package gatehttp
