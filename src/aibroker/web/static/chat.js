"use strict";
// The customer chat page. A file, not an inline script, so the page can be served with a Content-Security-Policy
// that allows no inline script or style; no inline event handlers either (listeners are added here).
const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
// Where this browser keeps its conversation (id + access token), so a reload resumes it. The token is the only
// key to the conversation: without it the server answers 404, as for a conversation that does not exist.
const STORAGE_KEY = "aibroker.conversation";
// Server field name (first part of `detail[].field`) → the form control that shows its error.
const FIELD_INPUTS = { name: "f-name", email: "f-email", phone: "f-phone", loanType: "f-loanType",
  loan_type: "f-loanType", propertyType: "f-propertyType", property_type: "f-propertyType", timeline: "f-timeline",
  actualIncomes: "f-income", actual_incomes: "f-income", actualAges: "f-age", actual_ages: "f-age",
  consent: "f-consent" };
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 8000, 8000, 8000];  // then the bubble offers "Retry"

let conversationId = null, broker = { name: "", title: "" }, pollTimer = null, polling = false, pollAgain = false;
let session = null;       // { id, token } of this browser's conversation, as stored
const byId = new Map();   // server message id → its element (each server message is shown once)
const outbox = [];        // the customer's own messages not yet matched with the server's list
let sendChain = Promise.resolve();

/** An idempotency key matching ^[A-Za-z0-9_-]{1,64}$ (randomUUID needs a secure context: fall back). */
function newId() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  if (window.crypto && typeof crypto.getRandomValues === "function") {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
  }
  return `m${Date.now().toString(36)}${Math.random().toString(36).slice(2, 12)}`;
}

async function readJson(res) {
  try { return await res.json(); } catch (_) { return {}; }
}

function explain(body) {
  if (body && Array.isArray(body.detail)) return body.detail.map(d => `${d.field}: ${d.message}`).join("; ");
  return (body && body.error) || "Something went wrong, please try again.";
}

/* ---------- this browser's conversation ---------- */

function loadSession() {
  try {
    const stored = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
    if (stored && Number.isSafeInteger(stored.id) && stored.id > 0 && typeof stored.token === "string"
        && stored.token) return { id: stored.id, token: stored.token };
  } catch (_) { /* storage off or garbage in it: no conversation to resume */ }
  return null;
}

function saveSession(id, token) {
  session = { id, token };
  try { window.localStorage.setItem(STORAGE_KEY, JSON.stringify(session)); } catch (_) { /* private mode */ }
}

function forgetSession() {
  session = null;
  try { window.localStorage.removeItem(STORAGE_KEY); } catch (_) { /* nothing to forget */ }
}

/** Headers for a call about our conversation: the token goes with every one. */
function withToken(headers) {
  return session ? { ...headers, "X-Conversation-Token": session.token } : { ...headers };
}

function sentence(text) {
  const s = String(text || "").trim();
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/* ---------- lead form ---------- */

function clearFieldErrors() {
  for (const id of new Set(Object.values(FIELD_INPUTS))) {
    $(id).removeAttribute("aria-invalid");
    $(`${id}-error`).textContent = "";
  }
  $("lead-error").textContent = "";
}

/** Put each 422 problem next to its field; what belongs to no field goes to the form's error line. */
function showFieldErrors(body) {
  const general = [];
  let first = null;
  for (const problem of (body && Array.isArray(body.detail)) ? body.detail : []) {
    const id = FIELD_INPUTS[String(problem.field || "").split(".")[0]];
    if (!id) { general.push(sentence(problem.message)); continue; }
    const slot = $(`${id}-error`);
    slot.textContent = slot.textContent ? `${slot.textContent} ${sentence(problem.message)}` : sentence(problem.message);
    $(id).setAttribute("aria-invalid", "true");
    first = first || $(id);
  }
  $("lead-error").textContent = general.length ? general.join(" ")
    : first ? "Please check the highlighted fields." : explain(body);
  if (first) first.focus();
}

function showBroker(next) {
  if (!next || !next.name || (next.name === broker.name && next.title === broker.title)) return;
  broker = next;
  $("broker-name").textContent = next.name;
  $("broker-title").textContent = next.title || "";
  $("broker-initials").textContent = next.name.split(/\s+/).map(p => p[0] || "").join("").slice(0, 2).toUpperCase();
}

$("lead").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target, f = new FormData(form), button = form.querySelector("button[type=submit]");
  const lead = { name: String(f.get("name") || "").trim(), email: String(f.get("email") || "").trim(),
    phone: String(f.get("phone") || "").trim() || null, loanType: f.get("loanType"),
    propertyType: f.get("propertyType"), timeline: f.get("timeline"), sessionId: newId(),
    consent: $("f-consent").checked };
  if (f.get("income")) lead.actualIncomes = [Number(f.get("income"))];
  if (f.get("age")) lead.actualAges = [Number(f.get("age"))];
  clearFieldErrors();
  if (!lead.consent) {  // required by the server too; saying so here saves a round trip
    showFieldErrors({ detail: [{ field: "consent", message: "please tick the box to agree, so we can help you" }] });
    return;
  }
  button.disabled = true; form.setAttribute("aria-busy", "true");
  try {
    // A stored token goes along: the same person coming back continues their conversation (the server
    // decides; for anyone else the token opens nothing and a new conversation starts).
    const res = await fetch("/api/leads", { method: "POST", headers: withToken({ "Content-Type": "application/json" }),
      body: JSON.stringify(lead) });
    const body = await readJson(res);
    // A 503 may still have opened our conversation (its greeting is queued later): keep its token, so trying
    // again continues it instead of opening a second one.
    if (body.conversation_token && Number.isSafeInteger(body.conversation_id)) {
      saveSession(body.conversation_id, body.conversation_token);
    }
    if (res.status === 422) { showFieldErrors(body); return; }
    if (!res.ok) { $("lead-error").textContent = explain(body); return; }
    openChat(body.broker);
  } catch (_) {
    $("lead-error").textContent = "We could not reach the server. Please check your connection and try again.";
  } finally { button.disabled = false; form.removeAttribute("aria-busy"); }
});

/** Show the chat of `session` (after the form, or on a reload that found the conversation). */
function openChat(serverBroker) {
  conversationId = session.id;
  showBroker(serverBroker);
  $("lead").hidden = true; $("chat").hidden = false;
  $("message").focus();
  poll();
  connect();
  liveNotice();
}

/** The server does not know our conversation (any more), or our token does not open it: show nothing of it. */
function lostConversation() {
  forgetSession();
  conversationId = null;
  clearTimeout(pollTimer);
  disconnect(); showChips([]); liveNotice(); $("resume-panel").hidden = true;
  byId.clear(); outbox.length = 0; log.replaceChildren();
  broker = { name: "", title: "" };
  for (const id of ["broker-name", "broker-title", "broker-initials", "typing", "send-status"]) $(id).textContent = "";
  delete $("typing").dataset.on;
  $("handoff").hidden = true; $("chat").hidden = true; $("lead").hidden = false;
}

/** On load: a stored conversation is resumed with its history if the server still opens it for our token. */
async function resume() {
  await redeemResumeLink();  // a "continue on another device" link: its conversation becomes this browser's
  session = loadSession();
  if (!session) { forgetSession(); return; }
  const main = document.querySelector("main");
  $("lead").hidden = true; main.setAttribute("aria-busy", "true");
  try {
    const res = await fetch(`/api/conversations/${session.id}`, { headers: withToken({}) });
    if (res.ok) { openChat((await res.json()).broker); return; }
    if (res.status === 404) forgetSession();
  } catch (_) { /* offline: keep the token, a form submission sends it and continues the conversation */ }
  finally { main.removeAttribute("aria-busy"); }
  if (conversationId === null) $("lead").hidden = false;
}

/** The privacy notice links to the operator's policy (PRIVACY_POLICY_URL); the page ships with /privacy. */
async function loadPublicConfig() {
  try {
    const res = await fetch("/api/config/public");
    if (res.ok) {
      const config = await res.json();
      if (typeof config.privacy_policy_url === "string") $("privacy-link").href = config.privacy_policy_url;
    }
  } catch (_) { /* the built-in link stays */ }
}

/* ---------- the conversation ---------- */

const log = $("log");

function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 80; }

function timeOf(iso) {
  const at = iso ? new Date(iso) : new Date();
  return isNaN(at) ? "" : at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function bubble(role, content) {
  const el = document.createElement("div");
  el.className = role === "system" ? "note" : `msg ${role}`;
  el.dataset.role = role;
  if (role !== "system") {
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "customer" ? "You: " : role === "human" ? "Specialist: " : `${broker.name}: `;
    el.appendChild(who);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = content;
  el.appendChild(text);
  return el;
}

function setMeta(el, text, retryEntry) {
  let meta = el.querySelector(".meta");
  if (!meta) { meta = document.createElement("span"); meta.className = "meta"; el.appendChild(meta); }
  meta.textContent = text;
  if (retryEntry) {
    const button = document.createElement("button");
    button.type = "button"; button.className = "retry"; button.textContent = "Retry";
    button.addEventListener("click", () => { queueDelivery(retryEntry); });
    meta.appendChild(button);
  }
}

/** New server messages go in the server's order (ids grow; the stream and a poll may bring them in either
 *  order), and before the customer's still-unconfirmed bubbles (the server orders them later). */
function insert(el) {
  const stick = nearBottom();
  const id = Number(el.dataset.id);
  const later = Number.isSafeInteger(id)
    ? Array.from(log.children).find(other => Number(other.dataset.id) > id) : null;
  const anchor = later || (outbox.find(e => !e.serverId && e.el.isConnected) || {}).el || null;
  log.insertBefore(el, anchor);
  if (stick) log.scrollTop = log.scrollHeight;
}

/** Match a server message with one of our optimistic bubbles: the preferred one (its own POST answer) or the
 *  oldest unconfirmed bubble with the same text. Returns false when no bubble of ours can show it. */
function attach(id, content, preferred, createdAt) {
  if (byId.has(id)) return true;
  const entry = preferred && !preferred.serverId ? preferred
    : outbox.find(e => !e.serverId && e.content === content);
  if (!entry) return false;
  entry.serverId = id;
  entry.el.dataset.id = id;
  entry.el.classList.remove("pending", "failed");
  setMeta(entry.el, timeOf(createdAt));
  receipt(entry.el);
  byId.set(id, entry.el);
  settle(entry);
  return true;
}

/** Forget an entry once the server has both accepted it and listed it. */
function settle(entry) {
  const index = outbox.indexOf(entry);
  if (entry.serverId && entry.delivered && index >= 0) outbox.splice(index, 1);
}

function render(message) {
  if (byId.has(message.id)) return;
  if (message.role === "customer" && attach(message.id, message.content.trim(), null, message.created_at)) return;
  const el = bubble(message.role, message.content);
  el.dataset.id = message.id;
  if (message.role !== "system") setMeta(el, timeOf(message.created_at));
  byId.set(message.id, el);
  insert(el);
  receipt(el);
}

function showConversation(conversation) {
  showBroker(conversation.broker);
  const human = conversation.owner === "human";
  $("handoff").hidden = !human;
  if (streaming) return;  // the stream's typing events say it at once; polling reads it from the conversation
  setBrokerTyping(conversation.typing === true && !human ? broker.name : null);
}

async function poll() {
  if (conversationId === null) return;
  if (polling) { pollAgain = true; return; }
  polling = true; clearTimeout(pollTimer);
  const base = `/api/conversations/${conversationId}`, headers = withToken({});
  let lost = false;
  try {
    const [messages, conversation] = await Promise.all([fetch(`${base}/messages`, { headers }),
      fetch(base, { headers })]);
    lost = messages.status === 404 || conversation.status === 404;
    if (!lost && messages.ok) (await messages.json()).messages.forEach(render);
    if (!lost && conversation.ok) showConversation(await conversation.json());
  } catch (_) { /* offline for a moment: the next poll catches up */ }
  finally {
    polling = false;
    // While the event stream is open a poll is a one-off catch-up; only without it does the page keep polling.
    if (lost) lostConversation();
    else if (!streaming || pollAgain) pollTimer = setTimeout(poll, pollAgain ? 0 : POLL_MS);
    pollAgain = false;
  }
}

/* ---------- sending ---------- */

function status(text, bad) {
  $("send-status").textContent = text;
  $("send-status").classList.toggle("bad", Boolean(bad));
}

const sleep = (ms) => new Promise(r => setTimeout(r, ms));
const retryable = (res, body) => [502, 503, 504].includes(res.status) || (res.status >= 500 && body.retry === true);

/** POST one message; 503s and network errors are retried with the same client_message_id (one message). */
async function deliver(entry) {
  if (conversationId === null || (entry.serverId && entry.delivered)) return;  // null: the conversation is gone
  if (!entry.serverId) {
    entry.el.classList.remove("failed"); entry.el.classList.add("pending");
    setMeta(entry.el, "Sending…");
  }
  for (let attempt = 0; ; attempt++) {
    if (conversationId === null) return;
    let res = null, body = {};
    try {
      res = await fetch(`/api/conversations/${conversationId}/messages`, { method: "POST",
        headers: withToken({ "Content-Type": "application/json" }),
        body: JSON.stringify({ content: entry.content, client_message_id: entry.clientId,
          quick_reply: entry.quickReply }) });
      body = await readJson(res);
    } catch (_) { res = null; }
    if (res && res.ok) {
      entry.delivered = true;
      // If another bubble with the same text already shows this id, ours stays unconfirmed and takes the
      // other bubble's message when the list brings it: each message is shown exactly once either way.
      if (body.message_id) attach(String(body.message_id), entry.content, entry);
      settle(entry);
      if ($("send-status").textContent) status("");
      poll();
      return;
    }
    if (res && res.status === 404) { lostConversation(); return; }
    if (res && !retryable(res, body)) {  // refused (e.g. 422): show why and give the text back
      const index = outbox.indexOf(entry);
      if (index >= 0) outbox.splice(index, 1);
      if (!entry.serverId) entry.el.remove();
      status(explain(body), true);
      if (!$("message").value) $("message").value = entry.content;
      return;
    }
    if (attempt >= RETRY_DELAYS_MS.length) {
      if (entry.serverId) { status(""); return; }  // the server listed it: saved, and answered once queued
      entry.el.classList.remove("pending"); entry.el.classList.add("failed");
      setMeta(entry.el, "Not sent.", entry);
      status("Your message was not sent. Check your connection, then tap Retry.", true);
      return;
    }
    status("Connection hiccup, retrying…");
    await sleep(RETRY_DELAYS_MS[attempt]);
  }
}

function queueDelivery(entry) {
  sendChain = sendChain.then(() => deliver(entry)).catch(() => {});
}

$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("message"), content = input.value.trim();
  if (!content || conversationId === null) return;
  input.value = "";
  stoppedTyping();
  sendText(content, false);
});

/** Show the customer's message at once and deliver it (typed, or a quick-reply chip tapped). */
function sendText(content, quickReply) {
  if (conversationId === null) return;
  showChips([]);
  const entry = { clientId: newId(), content, el: bubble("customer", content), serverId: null, delivered: false,
    quickReply };
  entry.el.classList.add("pending");
  entry.el.dataset.clientId = entry.clientId;
  setMeta(entry.el, "Sending…");
  log.appendChild(entry.el);
  log.scrollTop = log.scrollHeight;
  outbox.push(entry);
  queueDelivery(entry);
}

installLiveControls();
loadPublicConfig();
resume();
