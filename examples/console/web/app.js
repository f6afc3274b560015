// The example console's page: plain JavaScript over runner/gatehttp's contract, mounted
// under /api. Every text from the server goes through textContent, never HTML.
"use strict";

const api = "api";
const labels = {
  pending: "Pending", running: "Running", pass: "Pass", warn: "Warning",
  fail: "Fail", skipped: "Skipped", not_run: "Not run",
};
const gateText = {
  pass: "Pass: nothing holds the deploy.",
  needs_ack: "Needs acknowledgment: accept the warnings and failures below to deploy.",
  blocked: "Blocked: a strict requirement failed; it cannot be acknowledged.",
};
const attemptWords = { pass: "passed", warn: "warned", fail: "failed" };
const maxFailingShown = 20;

const page = {
  spec: null,
  runId: null,
  source: null,
  state: "idle", // idle, running, done, canceled
  rows: new Map(), // id -> row
  deployAllowed: false,
  gate: null,
  summaryAt: 0,
  summaryTimer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === "") continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function formatDuration(ms) {
  if (!(ms >= 0)) return "";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  return m + " min " + Math.floor(s % 60) + " s";
}

function formatTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleTimeString();
}

// A row's state: the spec's requirement, what the events said and the decision's result.
function newRow(req) {
  return {
    req, status: "pending", startedAt: null, attempt: 0, lastAttempt: null,
    nodeAttempt: 0, nodesDone: 0, nodesTotal: 0, failing: [], result: null,
    tr: null,
  };
}

async function loadSpec() {
  const resp = await fetch(api + "/spec");
  page.spec = await resp.json();
  $("spec-name").textContent = page.spec.name;
  resetRows();
  const m = /(?:^|[#&])run=([0-9a-f]+)/.exec(location.hash);
  if (m) watch(m[1]); // a reload, or a shared link: replay the run's events
}

function resetRows() {
  page.rows.clear();
  const body = $("rows");
  body.replaceChildren();
  for (const req of page.spec.requirements) {
    const row = newRow(req);
    row.tr = el("tr", { "data-id": req.id });
    page.rows.set(req.id, row);
    body.append(row.tr);
    render(row);
  }
}

async function startRun(event) {
  event.preventDefault();
  showMessage("");
  const body = { phase: $("phase").value };
  if ($("app-version").value.trim()) body.app_version = $("app-version").value.trim();
  if ($("previous-version").value.trim()) body.previous_version = $("previous-version").value.trim();
  const resp = await fetch(api + "/runs", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await resp.json();
  if (!resp.ok) {
    showMessage(data.error || resp.statusText, true);
    return;
  }
  history.replaceState(null, "", "#run=" + data.id);
  watch(data.id);
}

function watch(id) {
  if (page.source) page.source.close();
  page.runId = id;
  page.state = "running";
  page.deployAllowed = false;
  page.gate = null;
  resetRows();
  renderGate();
  const source = new EventSource(api + "/runs/" + encodeURIComponent(id) + "/events");
  page.source = source;
  const on = (type, fn) => source.addEventListener(type, (e) => {
    if (page.source !== source) return;
    fn(JSON.parse(e.data));
  });
  on("started", (ev) => update(ev.requirement_id, (row) => {
    row.status = "running";
    row.startedAt = Date.parse(ev.at);
  }));
  on("node", (ev) => update(ev.requirement_id, (row) => {
    if (ev.attempt !== row.nodeAttempt) {
      row.nodeAttempt = ev.attempt;
      row.nodesDone = 0;
      row.failing = [];
    }
    row.nodesDone++;
    row.nodesTotal = ev.nodes || 0;
    if (ev.node.status !== "pass") row.failing.push(ev.node);
  }));
  on("attempt", (ev) => update(ev.requirement_id, (row) => {
    row.attempt = ev.attempt;
    row.lastAttempt = ev.result;
  }));
  on("finished", (ev) => update(ev.requirement_id, (row) => {
    setResult(row, ev.result);
  }));
  on("done", (body) => {
    source.close();
    page.source = null;
    apply(body);
  });
  source.onerror = async () => {
    if (page.source !== source || source.readyState !== EventSource.CLOSED) return; // it reconnects itself
    page.source = null;
    const resp = await fetch(api + "/runs/" + encodeURIComponent(id));
    if (resp.ok) apply(await resp.json());
    else showMessage("Run " + id + " is gone: finished runs are kept for a limited time.", true);
  };
}

function update(id, fn) {
  const row = page.rows.get(id);
  if (!row) return;
  fn(row);
  render(row);
  renderGate();
}

function setResult(row, result) {
  row.result = result;
  row.status = result.status;
  const nodes = (result.nodes || []).filter((n) => !n.excluded);
  if (nodes.length > 0) {
    row.nodesTotal = nodes.length;
    row.nodesDone = nodes.length;
    row.failing = nodes.filter((n) => n.status !== "pass");
  }
}

// apply takes a GET /runs/{id} body (or the done event's): the decision is authoritative.
function apply(body) {
  page.state = body.state;
  page.deployAllowed = body.deploy_allowed;
  page.gate = body.decision ? body.decision.gate : null;
  if (body.state !== "running" && body.decision) {
    for (const r of body.decision.requirements) {
      const row = page.rows.get(r.id);
      if (row) setResult(row, r);
    }
    if (body.decision.error) showMessage("The run was cut short: " + body.decision.error, true);
  }
  for (const row of page.rows.values()) render(row);
  renderGate();
}

function acknowledgeable(row) {
  const r = row.result;
  if (page.state !== "done" || !r || r.acknowledged) return false;
  if (r.status === "warn") return true;
  return (r.status === "fail" || r.status === "not_run") && !r.strict;
}

function blocking(row) {
  return row.req.strict && (row.status === "fail" || row.status === "not_run");
}

function render(row) {
  const r = row.result;
  const tr = row.tr;
  tr.dataset.status = row.status;
  tr.dataset.blocking = blocking(row) ? "true" : "false";
  tr.dataset.acknowledged = r && r.acknowledged ? "true" : "false";

  const status = el("td", {}, el("span", { class: "badge", "data-status": row.status }, labels[row.status] || row.status));
  if (blocking(row)) status.append(el("span", { class: "tag blocking" }, "Blocking"));
  if (r && r.acknowledged) status.append(el("span", { class: "tag acked" }, "Acknowledged"));

  const what = el("td", {}, el("span", { class: "req-id" }, row.req.id), el("span", { class: "req-msg" }, row.req.message));
  if (row.req.strict) what.append(el("span", { class: "tag strict", title: "A failure blocks the deploy; it cannot be acknowledged." }, "strict"));
  if (row.req.details) what.append(el("details", {}, el("summary", {}, "Details"), row.req.details));

  const result = el("td", {});
  if (r) {
    result.append(el("span", { class: "result-msg" }, r.message || ""));
    const err = [r.error, r.condition_error].filter(Boolean).join("; ");
    if (err && err !== r.message) result.append(el("span", { class: "result-err" }, err));
  } else if (row.status === "running") {
    result.append(el("span", { class: "result-msg" }, row.lastAttempt ? row.lastAttempt.message : "Running…"));
  }
  if (row.status === "running" && row.attempt > 0) {
    result.append(el("span", { class: "attempt" }, "Attempt " + row.attempt + " " + (attemptWords[row.lastAttempt.status] || row.lastAttempt.status) + "; retrying"));
  } else if (r && r.attempts > 1) {
    result.append(el("span", { class: "attempt" }, r.attempts + " attempts"));
  }
  if (row.nodesDone > 0 || row.nodesTotal > 0) {
    const text = row.nodesTotal > 0 ? row.nodesDone + " of " + row.nodesTotal + " nodes" : row.nodesDone + " nodes done";
    const nodes = el("div", { class: "nodes" });
    if (row.nodesTotal > 0) {
      nodes.append(el("progress", { max: row.nodesTotal, value: row.nodesDone, "aria-label": "Nodes checked for " + row.req.id }));
    }
    nodes.append(el("span", { class: "node-count" }, text + (row.failing.length ? ", " + row.failing.length + " not passing" : "")));
    result.append(nodes);
    if (row.failing.length) {
      const list = el("ul", { class: "failing", "aria-label": "Nodes not passing for " + row.req.id });
      for (const n of row.failing.slice(0, maxFailingShown)) {
        list.append(el("li", {}, n.node + ": " + (labels[n.status] || n.status).toLowerCase() + (n.message ? " – " + n.message : "")));
      }
      if (row.failing.length > maxFailingShown) list.append(el("li", {}, "and " + (row.failing.length - maxFailingShown) + " more"));
      result.append(list);
    }
  }
  if (r && r.acknowledgment) {
    const a = r.acknowledgment;
    result.append(el("span", { class: "ack-info" },
      a.by ? "Acknowledged by " + a.by + " at " + formatTime(a.at) : "Acknowledged when the run started"));
  }

  const time = el("td", { class: "time" }, timeText(row));

  const action = el("td", {});
  if (acknowledgeable(row)) {
    const warningOnly = r.status === "warn" && r.strict;
    const b = el("button", { type: "button", class: "ack", "data-ack": warningOnly ? "warnings" : "ids",
      "aria-label": "Acknowledge " + row.req.id }, "Acknowledge");
    b.addEventListener("click", () => acknowledge(row, warningOnly));
    action.append(b);
  } else if (blocking(row)) {
    action.append(el("span", { class: "no-ack" }, "Cannot be acknowledged"));
  }
  // Keep the focus on the row's button when it is redrawn.
  const focused = tr.contains(document.activeElement) ? document.activeElement.className : null;
  tr.replaceChildren(status, what, result, time, action);
  if (focused) {
    const again = tr.querySelector("." + focused.split(" ")[0]);
    if (again) again.focus();
  }
}

function timeText(row) {
  if (row.status === "running" && row.startedAt) return formatDuration(Date.now() - row.startedAt);
  if (row.result && row.status !== "skipped") return formatDuration(row.result.duration * 1000);
  return "";
}

function tick() {
  for (const row of page.rows.values()) {
    if (row.status === "running" && row.tr) {
      const cell = row.tr.querySelector(".time");
      if (cell) cell.textContent = timeText(row);
    }
  }
}

function counts() {
  const c = { done: 0, running: [], total: page.rows.size };
  for (const row of page.rows.values()) {
    if (row.status === "running") c.running.push(row);
    else if (row.status !== "pending") c.done++;
  }
  return c;
}

function renderGate() {
  const gate = $("gate");
  let key = "none";
  let text = "Not run yet.";
  if (page.state === "running") {
    key = "running";
    text = "Running…";
  } else if (page.state === "canceled") {
    key = "canceled";
    text = "Canceled: the run was stopped; run the checks again.";
  } else if (page.state === "done" && page.gate) {
    key = page.gate;
    text = gateText[page.gate] || page.gate;
  }
  gate.dataset.gate = key;
  if (gate.textContent !== text) gate.textContent = text;

  const deploy = $("deploy");
  deploy.disabled = !page.deployAllowed;
  let why = "Run the checks first.";
  if (page.deployAllowed) why = "The gate allows the deploy.";
  else if (page.state === "running") why = "Waiting for the checks to finish.";
  else if (page.state === "canceled") why = "The run was canceled.";
  else if (page.gate === "blocked") why = "A strict requirement failed: the deploy is blocked.";
  else if (page.gate === "needs_ack") why = "Acknowledge what needs it to deploy.";
  $("deploy-why").textContent = why;
  $("cancel").disabled = page.state !== "running";
  $("start").disabled = page.state === "running";
  scheduleSummary();
}

function summaryText() {
  if (page.state === "idle") return "";
  const c = counts();
  let text = c.done + " of " + c.total + " requirements done";
  if (c.running.length) {
    text += "; running: " + c.running.map((row) =>
      row.req.id + (row.nodesTotal ? " (" + row.nodesDone + " of " + row.nodesTotal + " nodes)" : "")).join(", ");
  }
  return text + ".";
}

// The summary is shown at once; its copy in the live region is rewritten at most once a
// second, so that a 1000-node check does not flood a screen reader.
function scheduleSummary() {
  $("summary").textContent = summaryText();
  if (page.summaryTimer) return;
  const wait = Math.max(0, 1000 - (Date.now() - page.summaryAt));
  page.summaryTimer = setTimeout(() => {
    page.summaryTimer = null;
    page.summaryAt = Date.now();
    $("live").textContent = summaryText();
  }, wait);
}

async function acknowledge(row, warningOnly) {
  const by = $("by").value.trim();
  if (!by) {
    showMessage("Enter your name first: it is recorded with the acknowledgment.", true);
    $("by").focus();
    return;
  }
  const body = { by };
  body[warningOnly ? "warnings" : "ids"] = [row.req.id];
  const resp = await fetch(api + "/runs/" + encodeURIComponent(page.runId) + "/acknowledge", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await resp.json();
  if (!resp.ok) {
    showMessage(data.error || resp.statusText, true);
    return;
  }
  showMessage("");
  apply(data);
  const next = document.querySelector("button.ack") || $("deploy");
  if (!next.disabled) next.focus();
}

async function cancelRun() {
  if (!page.runId) return;
  $("cancel").disabled = true;
  const resp = await fetch(api + "/runs/" + encodeURIComponent(page.runId), { method: "DELETE" });
  const data = await resp.json();
  if (!resp.ok) showMessage(data.error || resp.statusText, true);
}

async function deploy() {
  const resp = await fetch(api + "/deploy", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ run: page.runId }),
  });
  const data = await resp.json();
  showMessage(resp.ok ? data.message : data.error, !resp.ok);
}

function showMessage(text, error) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("error", Boolean(error));
}

document.addEventListener("DOMContentLoaded", () => {
  $("run-form").addEventListener("submit", startRun);
  $("cancel").addEventListener("click", cancelRun);
  $("deploy").addEventListener("click", deploy);
  setInterval(tick, 250);
  loadSpec().catch((err) => showMessage("Cannot load the spec: " + err, true));
});
