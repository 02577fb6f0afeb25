// The broker console: the list of open conversations (waiting for a human first), one conversation's view, and
// the agent's actions. One function, refresh(), brings everything up to date. The agents' event stream
// (/api/console/events) calls it on every event, so a handoff shows at once; a slow tick keeps the clocks moving.
// While the stream fails, a 2 s poll takes over and the page says it is reconnecting.
"use strict";

(() => {
  const POLL_MS = 2000;  // without the stream
  const CLOCK_MS = 5000;  // with it: changes come as events; this only moves the "waiting" and SLA clocks
  const LIVE_EVENTS = ["message", "typing", "read", "status", "sla"];
  const CUSTOMER_TYPING_MS = 8000;
  const $ = (id) => document.getElementById(id);
  const state = {
    csrf: null, selected: null, seenWaiting: null, renderedIds: [], renderedFor: null, actions: true,
    baseTitle: document.title, busy: false, again: false,
    stream: "connecting",  // connecting | open | failed | unsupported
    customerTypingTimer: null,
  };

  const idFromHash = () => {
    const match = /^#conversation-(\d+)$/.exec(location.hash);
    return match ? Number(match[1]) : null;
  };

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if ((options.method || "GET") !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(path, {
      method: options.method || "GET", headers, credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (response.status === 401) { location.assign("/console"); throw new Error("signed out"); }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.error || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  const words = (text) => String(text || "").replace(/_/g, " ");
  const seconds = (s) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min`
    : `${Math.round(s / 3600)} h`);
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value; else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function slaText(sla) {
    if (!sla) return null;
    const remaining = sla.remaining_ms / 1000;
    return remaining >= 0 ? `reply due in ${remaining.toFixed(1)} s` : `reply late by ${(-remaining).toFixed(1)} s`;
  }

  function renderList(overview) {
    state.actions = overview.actions_available;
    const list = $("conversations");
    list.replaceChildren(...overview.conversations.map((row) => {
      const name = row.first_name || `Conversation ${row.id}`;
      const status = row.waiting_since !== null ? `waiting ${seconds(row.waited_s)}`
        : row.owner === "human" ? "with a human" : "with the bot";
      const link = row.chatwoot_url
        ? el("a", { href: row.chatwoot_url, target: "_blank", rel: "noopener" }, `${name} (open in Chatwoot)`)
        : el("a", { href: `#conversation-${row.id}`, "aria-current": row.id === state.selected ? "true" : null },
          name);
      const sla = slaText(row.sla);
      return el("li", { className: `row ${row.waiting_since !== null ? "waiting" : row.owner}`,
        "data-id": String(row.id) },
      link,
      el("span", { className: "status" }, status),
      el("span", { className: "broker" }, row.broker ? `Broker: ${row.broker}` : "No broker"),
      sla ? el("span", { className: `sla ${row.sla.state}` }, sla) : null,
      row.handoff_reason ? el("span", { className: "reason" }, words(row.handoff_reason)) : null);
    }));
    $("empty").hidden = overview.conversations.length > 0;
    $("inbox-note").hidden = overview.actions_available;
    $("inbox-note").textContent = overview.actions_available ? ""
      : "Agents work in Chatwoot: each conversation links to it.";
    const badge = $("waiting-count");
    badge.hidden = overview.waiting === 0;
    badge.textContent = `${overview.waiting} waiting`;
    document.title = overview.waiting ? `(${overview.waiting}) ${state.baseTitle}` : state.baseTitle;
    noticeHandoffs(overview.conversations.filter((row) => row.waiting_since !== null));
  }

  function noticeHandoffs(waiting) {
    const ids = new Set(waiting.map((row) => row.id));
    if (state.seenWaiting !== null) {
      const fresh = waiting.filter((row) => !state.seenWaiting.has(row.id));
      if (fresh.length) {
        $("announce").textContent = fresh.map((row) =>
          `${row.first_name || "A customer"} is waiting for a human (${words(row.handoff_reason) || "handoff"}).`)
          .join(" ");
        if ($("sound").checked) beep();
      }
    }
    state.seenWaiting = ids;
  }

  function beep() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      tone.connect(audio.destination);
      tone.frequency.value = 880;
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (_error) { /* no audio here: the badge and the announcement remain */ }
  }

  function facts(list, pairs) {
    list.replaceChildren(...pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, String(value))]));
  }

  function renderDetail(detail) {
    $("detail").hidden = false;
    $("conversation-title").textContent = `${detail.first_name || "Customer"} (conversation ${detail.id})`;
    facts($("facts"), [
      ["Owner", detail.owner === "human" ? "a human" : "the bot"], ["Status", detail.status],
      ["Broker", detail.broker], ["Lead score", detail.lead_score], ["Loan", words(detail.loan_type)],
      ["Handoff reason", words(detail.handoff_reason)],
      ["Waiting for a human", detail.waiting_since ? seconds(detail.waited_s) : null],
      ["Bot reply clock", slaText(detail.sla)],
    ]);
    facts($("lead-data"), Object.entries(detail.lead || {}).map(([key, value]) =>
      [words(key), Array.isArray(value) ? value.join(", ") : value]));
    const transcript = $("transcript");
    if (state.renderedFor !== detail.id) {
      transcript.replaceChildren();
      state.renderedIds = [];
      state.renderedFor = detail.id;
    }
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    let added = false;
    for (const message of detail.messages) {
      if (state.renderedIds.includes(message.id)) continue;
      added = true;
      state.renderedIds.push(message.id);
      const who = { customer: "Customer", bot: "Bot", human: "Agent", system: "Note" }[message.role] || message.role;
      transcript.append(el("li", { className: `message ${message.role}${message.private ? " private" : ""}`,
        "data-role": message.role, "data-id": message.id },
      el("span", { className: "who" }, `${who}${message.private ? " (agents only)" : ""}, ${time(message.created_at)}: `),
      el("span", { className: "text" }, message.content)));
    }
    // Follow new messages, unless the agent has scrolled up to read.
    if (added && (atBottom || transcript.childElementCount === detail.messages.length)) {
      transcript.scrollTop = transcript.scrollHeight;
    }
    $("typing").hidden = !detail.typing;
    const allowed = new Set(detail.actions);
    for (const button of $("actions").querySelectorAll("button")) button.hidden = !allowed.has(button.dataset.action);
    $("reply").hidden = !allowed.has("reply");
  }

  async function refresh() {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      const overview = await api("/api/console/conversations");
      renderList(overview);
      if (state.selected !== null) renderDetail(await api(`/api/console/conversations/${state.selected}`));
      $("connection").hidden = state.stream !== "failed";  // polled fine; still say so while the stream is down
    } catch (error) {
      if (error.status === 404 && state.selected !== null) {
        state.selected = null;
        $("detail").hidden = true;
      } else {
        $("connection").hidden = false;
      }
    } finally {
      state.busy = false;
    }
    if (state.again) { state.again = false; await refresh(); }
  }

  async function act(path, body) {
    $("action-error").textContent = "";
    try {
      renderDetail(await api(`/api/console/conversations/${state.selected}/${path}`, { method: "POST", body }));
      await refresh();
      return true;
    } catch (error) {
      $("action-error").textContent = error.message;
      return false;
    }
  }

  function select() {
    state.selected = idFromHash();
    $("customer-typing").hidden = true;
    $("detail").hidden = state.selected === null;
    if (state.selected === null) $("conversation-title").textContent = "Choose a conversation";
    refresh();
  }

  function poll() {
    refresh().finally(() => setTimeout(poll, state.stream === "open" ? CLOCK_MS : POLL_MS));
  }

  /** EventSource reconnects by itself, sending Last-Event-ID; if the server closed it for good, try again later. */
  function connect() {
    if (typeof window.EventSource !== "function") { state.stream = "unsupported"; return; }
    const source = new EventSource("/api/console/events");
    source.addEventListener("open", () => {
      state.stream = "open";
      $("connection").hidden = true;
      refresh();  // catch up on whatever happened while it was down
    });
    source.addEventListener("error", () => {
      state.stream = "failed";
      $("connection").hidden = false;
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, POLL_MS * 5);
    });
    for (const name of LIVE_EVENTS) source.addEventListener(name, () => refresh());
    source.addEventListener("typing", customerTyping);
  }

  /** The customer's typing (a signal only: no text comes before the message is sent), on the open conversation.
   *  A "typing" whose "stopped" never comes (the customer closed the page) fades after CUSTOMER_TYPING_MS. */
  function customerTyping(event) {
    let data = null;
    try { data = JSON.parse(event.data); } catch (_) { return; }
    if (!data || data.who !== "customer") return;
    const selected = state.selected !== null && Number(data.conversation_id) === state.selected;
    if (!selected && data.on) return;
    const note = $("customer-typing");
    clearTimeout(state.customerTypingTimer);
    note.hidden = !(selected && data.on);
    if (!note.hidden) state.customerTypingTimer = setTimeout(() => { note.hidden = true; }, CUSTOMER_TYPING_MS);
  }

  async function start() {
    try {
      const me = await api("/api/console/me");
      state.csrf = me.csrf_token;
      $("me").textContent = `Signed in as ${me.name}`;
    } catch (_error) {
      $("connection").hidden = false;
    }
    $("actions").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) act(button.dataset.action);
    });
    $("reply").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("reply-text");
      const content = text.value.trim();
      if (!content) return;
      const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())).replace(/[^A-Za-z0-9_-]/g, "");
      if (await act("messages", { content, client_message_id: key })) text.value = "";
    });
    window.addEventListener("hashchange", () => { select(); $("conversation").focus(); });
    state.selected = idFromHash();
    $("detail").hidden = state.selected === null;
    connect();
    poll();
  }

  window.aibrokerConsole = { refresh };
  start();
})();
