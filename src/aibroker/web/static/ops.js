// The operations page: reads the admin JSON routes with the admin token (kept in this tab's sessionStorage,
// sent as Authorization: Bearer), draws the analytics with uPlot (served by the app, no CDN), and drives the
// rollout and queue controls. Every value from the server is inserted as text, never as HTML.
"use strict";

const TOKEN_KEY = "aibroker-admin-token";
// The 7-day report reads half a week of rows (seconds at a million events, bench/analytics.py): refreshed less often.
const REFRESH_MS = { "1h": 10000, "24h": 30000, "7d": 60000 };
const $ = (id) => document.getElementById(id);
const charts = {};
let timer = null;
let rollout = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

// Signed in at /console as an admin agent: the session cookie goes with every call, and unsafe ones carry the
// session's CSRF token. Otherwise the admin token from this tab's sessionStorage.
let session = null;  // {name, csrf} when signed in as an admin agent

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = session ? (method === "GET" ? {} : { "X-CSRF-Token": session.csrf })
    : { Authorization: "Bearer " + token(), "X-Operator": "ops-page" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) throw new Unauthorized("wrong or missing admin token");
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || (method + " " + path + ": HTTP " + response.status));
  return data;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const cell of cells) {
      if (cell instanceof Node) { const td = el("td"); td.append(cell); tr.append(td); }
      else tr.append(el("td", cell));
    }
    return tr;
  }));
}

function pairs(dl, entries) {
  dl.replaceChildren(...entries.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
}

const ms = (v) => (v === null || v === undefined ? "–" : (v / 1000).toFixed(2) + " s");
const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + " %");

function tile(label, value, sub, verdict) {
  const node = el("div", null, "tile" + (verdict ? " " + verdict : ""));
  node.append(el("div", label, "label"), el("div", value, "value"));
  if (sub) node.append(el("div", sub, "sub"));
  return node;
}

function renderFigures(r) {
  const sla = r.sla_ms;
  const p95 = r.reply_latency.p95_ms;
  const wait = r.waiting_for_human;
  $("tiles").replaceChildren(
    tile("Conversations started", r.conversations_started),
    tile("Messages answered", r.messages_answered),
    tile("Reply P95", ms(p95), "P50 " + ms(r.reply_latency.p50_ms) + " · P99 " + ms(r.reply_latency.p99_ms),
         p95 === null ? "" : (p95 > sla ? "bad" : "good")),
    tile("SLA breaches (> " + sla / 1000 + " s)", r.reply_latency.breaches, pct(r.reply_latency.breach_share)),
    tile("Greeting P95", ms(r.greeting_latency.p95_ms), r.greeting_latency.count + " greetings"),
    tile("Failed jobs", r.failed_jobs, pct(r.failure_rate) + " of " + r.jobs_finished,
         r.failure_rate === null ? "" : (r.failure_rate >= 0.02 ? "bad" : "good")),
    tile("Handoffs", r.handoffs, pct(r.handoff_rate) + " of conversations"),
    tile("Waiting for a human", wait.still_waiting,
         (wait.longest_waiting_ms ? "longest " + Math.round(wait.longest_waiting_ms / 60000) + " min · " : "") +
         "answered P95 " + ms(wait.wait.p95_ms), wait.still_waiting ? "bad" : ""),
  );
  const groupRows = (groups) => groups.map((g) => [g.name, g.conversations, g.answered,
    g.reply_latency.p95_ms ?? "–", g.reply_latency.breaches, g.handoffs]);
  fill($("per-persona"), groupRows(r.per_persona));
  fill($("per-broker"), groupRows(r.per_broker));
  const reasons = Object.entries(r.handoffs_by_reason);
  pairs($("handoffs"), reasons.length ? reasons : [["none", "0"]]);
  drawCharts(r);
}

function chart(id, series, data) {
  const target = $(id);
  const width = Math.max(300, target.clientWidth || 400);
  if (charts[id] && charts[id].series.length === series.length + 1) {
    charts[id].setData(data);
    return;
  }
  if (charts[id]) charts[id].destroy();
  charts[id] = new uPlot({ width, height: 240, series: [{}, ...series], axes: [{}, { size: 60 }] }, data, target);
}

function drawCharts(r) {
  const xs = r.series.map((b) => Date.parse(b.start) / 1000);
  chart("chart-latency", [
    { label: "P50", stroke: "#0b5cab", width: 2, spanGaps: false },
    { label: "P95", stroke: "#b00020", width: 2, spanGaps: false },
    { label: "SLA", stroke: "#8a5300", dash: [6, 4], points: { show: false } },
  ], [xs, r.series.map((b) => b.p50_ms), r.series.map((b) => b.p95_ms), r.series.map(() => r.sla_ms)]);
  chart("chart-volume", [
    { label: "conversations", stroke: "#0b5cab", width: 2 },
    { label: "answered", stroke: "#136c2e", width: 2 },
    { label: "handoffs", stroke: "#8a5300", width: 2 },
    { label: "failed jobs", stroke: "#b00020", width: 2 },
  ], [xs, r.series.map((b) => b.conversations), r.series.map((b) => b.answered), r.series.map((b) => b.handoffs),
      r.series.map((b) => b.failed_jobs)]);
}

function renderRollout(state) {
  rollout = state;
  pairs($("rollout"), [
    ["AI broker (ENABLE_AI_BROKER)", state.enable_ai_broker ? "on" : "off"],
    ["Pipeline (ENABLE_BULLMQ_BROKER)", state.enable_bullmq_broker ? "on" : "off (all to n8n)"],
    ["Share of new conversations", state.rollout_percentage + " %"],
    ["Shadow mode", state.shadow_mode ? "on" : "off"],
    ["Source", state.source],
  ]);
  if (document.activeElement !== $("percentage")) $("percentage").value = state.rollout_percentage;
  $("toggle-broker").textContent = state.enable_bullmq_broker ? "Roll back to n8n" : "Switch the pipeline on";
  $("toggle-broker").className = state.enable_bullmq_broker ? "danger" : "";
  $("toggle-ai").textContent = state.enable_ai_broker ? "Stop the AI replies" : "Start the AI replies";
  $("toggle-shadow").textContent = state.shadow_mode ? "Shadow mode off" : "Shadow mode on";
}

function renderQueue(queue) {
  $("paused-badge").hidden = !queue.paused;
  pairs($("queue-counts"), Object.entries(queue.counts));
  fill($("failed"), queue.failed.map((job) => {
    const actions = el("span", null, "buttons");
    const retry = el("button", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => act("queue-note", "POST",
      "/api/admin/queue/failed/" + encodeURIComponent(job.id) + "/retry", "retried " + job.id));
    const remove = el("button", "Remove", "secondary");
    remove.type = "button";
    remove.addEventListener("click", () => act("queue-note", "DELETE",
      "/api/admin/queue/jobs/" + encodeURIComponent(job.id), "removed " + job.id));
    actions.append(retry, remove);
    const reason = el("span", job.reason);
    return [job.id, job.attempts, reason, actions];
  }));
  for (const row of $("failed").rows) row.cells[2].className = "reason";
}

function renderWorkers(status) {
  const now = Date.now() / 1000;
  fill($("workers"), (status.workers || []).map((w) => [w.host, w.pid, w.concurrency, w.active_jobs, w.processed,
    w.failed, Math.round(now - w.last_heartbeat) + " s ago"]));
  if (!status.workers || !status.workers.length) fill($("workers"), [["no worker heartbeat", "", "", "", "", "", ""]]);
}

function renderBrokers(body) {
  fill($("brokers"), body.brokers.map((b) => [b.name, b.persona_type, b.current_workload + " / " +
    b.max_concurrent_chats, b.is_available ? "yes" : "no"]));
}

async function refresh() {
  const window = $("window").value;
  try {
    const [analytics, rolloutState, queue, workers, brokers] = await Promise.all([
      api("GET", "/api/admin/analytics?window=" + encodeURIComponent(window)), api("GET", "/api/admin/rollout"),
      api("GET", "/api/admin/queue"), api("GET", "/api/worker/status"), api("GET", "/api/admin/brokers")]);
    renderFigures(analytics);
    renderRollout(rolloutState);
    renderQueue(queue);
    renderWorkers(workers);
    renderBrokers(brokers);
    $("board-error").textContent = "";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof Unauthorized) { signOut(error.message); return; }
    $("board-error").textContent = error.message;
  }
}

async function act(noteId, method, path, done, body) {
  try {
    await api(method, path, body);
    $(noteId).textContent = done;
  } catch (error) {
    if (error instanceof Unauthorized) { signOut(error.message); return; }
    $(noteId).textContent = error.message;
  }
  await refresh();
}

function changeRollout(change, what) {
  return act("rollout-note", "PUT", "/api/admin/rollout", what, change);
}

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("board").hidden = !signedIn;
  $("controls").hidden = !signedIn;
  clearInterval(timer);
  if (signedIn) {
    refresh();
    timer = setInterval(refresh, REFRESH_MS[$("window").value]);
  } else {
    $("token").focus();
  }
}

function signOut(reason) {
  if (session) { location.assign("/console"); return; }  // the console signs agents out
  sessionStorage.removeItem(TOKEN_KEY);
  $("sign-in-error").textContent = reason || "";
  show(false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    show(true);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("window").addEventListener("change", () => show(true));
  $("rollout-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = Number($("percentage").value);
    changeRollout({ rollout_percentage: value }, "share set to " + value + " %");
  });
  $("toggle-broker").addEventListener("click", () => {
    if (!rollout) return;
    const on = !rollout.enable_bullmq_broker;
    if (!on && !confirm("Roll back: every conversation goes to the n8n workflow. Continue?")) return;
    changeRollout({ enable_bullmq_broker: on }, on ? "pipeline on" : "rolled back to n8n");
  });
  $("toggle-ai").addEventListener("click", () => rollout && changeRollout({ enable_ai_broker: !rollout.enable_ai_broker },
    rollout.enable_ai_broker ? "AI replies stopped" : "AI replies started"));
  $("toggle-shadow").addEventListener("click", () => rollout && changeRollout({ shadow_mode: !rollout.shadow_mode },
    "shadow mode " + (rollout.shadow_mode ? "off" : "on")));
  $("queue-pause").addEventListener("click", () => act("queue-note", "POST", "/api/admin/queue/pause", "queue paused"));
  $("queue-resume").addEventListener("click", () => act("queue-note", "POST", "/api/admin/queue/resume", "queue resumed"));
  $("queue-drain").addEventListener("click", () => {
    if (confirm("Remove every waiting job? Unanswered customer messages are queued again by the workers.")) {
      act("queue-note", "POST", "/api/admin/queue/drain", "queue drained");
    }
  });
  $("queue-retry-all").addEventListener("click", () => act("queue-note", "POST", "/api/admin/queue/failed/retry-all",
    "failed jobs queued again"));
  adminSession().then((me) => {
    session = me;
    if (session) $("sign-out").textContent = "Console";
    show(Boolean(session || token()));
  });
});

/** The console session of an admin agent, if this browser has one. */
async function adminSession() {
  try {
    const response = await fetch("/api/console/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const me = await response.json();
    return me.kind === "agent" && me.is_admin ? { name: me.name, csrf: me.csrf_token } : null;
  } catch (_) {
    return null;
  }
}
