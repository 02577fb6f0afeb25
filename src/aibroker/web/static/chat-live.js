"use strict";
// Live updates for the chat page (issue #12): the conversation's server-sent event stream, with polling only while
// the stream is down; delivered/read marks; the broker's typing; quick-reply chips; the customer's typing (never
// its text); "continue on another device". Loaded before chat.js, whose functions it calls once the page runs.

const STREAM_GIVE_UP = 3;          // failed (re)connections in a row before the page polls instead
const STREAM_RETRY_MS = 15000;     // while polling, how often the stream is tried again
const TYPING_EVERY_MS = 3000;      // at most one "typing" per this, and "stopped" after this long without a key
const TYPING_STALE_MS = 30000;     // a "typing" whose "stopped" never came is dropped after this

let stream = null, streaming = false, streamFailures = 0, streamRetry = null;
let typingSentAt = 0, typingOn = false, typingIdle = null, brokerTypingTimer = null;

/* ---------- notices ---------- */

function liveNotice() {
  const el = $("live-status");
  if (!navigator.onLine) {
    el.textContent = "You are offline. We will send and show messages when your connection is back.";
  } else if (conversationId !== null && !streaming) {
    el.textContent = "Reconnecting… (messages still arrive, a little slower)";
  } else {
    el.textContent = "";
  }
  el.classList.toggle("bad", Boolean(el.textContent));
}

window.addEventListener("offline", liveNotice);
window.addEventListener("online", () => { liveNotice(); if (conversationId !== null && !streaming) connect(); });

/* ---------- the stream ---------- */

/** Open the conversation's event stream; EventSource reconnects by itself and sends Last-Event-ID. */
function connect() {
  disconnect();
  if (conversationId === null || !session) return;
  if (typeof window.EventSource !== "function") { startPolling(); return; }
  const source = new EventSource(`/api/conversations/${conversationId}/events?token=${encodeURIComponent(session.token)}`);
  stream = source;
  source.addEventListener("open", () => {
    if (stream !== source) return;
    streamFailures = 0;
    if (!streaming) { streaming = true; clearTimeout(pollTimer); poll(); }  // one catch-up read, then no polling
    liveNotice();
  });
  source.addEventListener("error", () => {
    if (stream !== source) return;
    streaming = false;
    streamFailures += 1;
    liveNotice();
    // Closed for good (e.g. 404, 503), or failing again and again: poll, and try the stream again later.
    if (source.readyState === EventSource.CLOSED || streamFailures >= STREAM_GIVE_UP) startPolling();
  });
  source.addEventListener("message", (e) => onLive(e, showLiveMessage));
  source.addEventListener("typing", (e) => onLive(e, showBrokerTyping));
  source.addEventListener("read", (e) => onLive(e, (data) => markRead(data.up_to)));
  source.addEventListener("status", (e) => onLive(e, () => { poll(); }));  // banner, header and notes from the API
}

function onLive(event, handler) {
  let data = null;
  try { data = JSON.parse(event.data); } catch (_) { return; }
  if (data && conversationId !== null) handler(data);
}

function disconnect() {
  if (stream) { stream.close(); stream = null; }
  streaming = false;
  clearTimeout(streamRetry);
}

function startPolling() {
  disconnect();
  liveNotice();
  poll();
  streamRetry = setTimeout(() => { if (conversationId !== null) connect(); }, STREAM_RETRY_MS);
}

/* ---------- what the stream shows ---------- */

function showLiveMessage(message) {
  if (!message.id || typeof message.content !== "string") return;
  render({ id: String(message.id), role: message.role, content: message.content, created_at: message.created_at });
  if (message.role === "bot" || message.role === "human") {
    markRead(null, byId.get(String(message.id)));   // an answer means everything before it was read
    setBrokerTyping(null);
    showChips(Array.isArray(message.quick_replies) ? message.quick_replies : []);
  } else if (message.role === "customer") {
    showChips([]);
  }
}

/** Customer bubbles with a server id say "Delivered"; those up to `upTo` (or before `beforeEl`) say "Read". */
function markRead(upTo, beforeEl) {
  const bubbles = Array.from(log.querySelectorAll(".msg"));
  const end = beforeEl ? bubbles.indexOf(beforeEl) : bubbles.findIndex(el => el.dataset.id === String(upTo));
  if (end < 0) return;
  for (const el of bubbles.slice(0, beforeEl ? end : end + 1)) {
    if (el.dataset.role === "customer" && el.dataset.id) { el.dataset.read = "1"; receipt(el); }
  }
}

/** The delivered/read mark of one of the customer's own bubbles (kept in its meta line). */
function receipt(el) {
  const meta = el.querySelector(".meta");
  if (!meta || el.dataset.role !== "customer" || !el.dataset.id) return;
  let mark = meta.querySelector(".receipt");
  if (!mark) { mark = document.createElement("span"); mark.className = "receipt"; meta.appendChild(mark); }
  mark.textContent = el.dataset.read ? " · Read" : " · Delivered";
}

function showBrokerTyping(data) {
  if (data.who === "customer") return;  // our own typing, as the console sees it
  setBrokerTyping(data.on ? (data.who === "human" ? "A specialist" : broker.name) : null);
}

function setBrokerTyping(who) {
  const typing = $("typing");
  clearTimeout(brokerTypingTimer);
  if (!who) { typing.textContent = ""; delete typing.dataset.on; return; }
  if (typing.dataset.on === who) return;
  typing.textContent = `${who} is typing`;
  const dots = document.createElement("span");
  dots.className = "dots"; dots.setAttribute("aria-hidden", "true");
  for (let i = 0; i < 3; i++) { const dot = document.createElement("span"); dot.textContent = "."; dots.appendChild(dot); }
  typing.appendChild(dots);
  const ellipsis = document.createElement("span");
  ellipsis.className = "visually-hidden"; ellipsis.textContent = "…";
  typing.appendChild(ellipsis);
  typing.dataset.on = who;
  brokerTypingTimer = setTimeout(() => setBrokerTyping(null), TYPING_STALE_MS);
}

/* ---------- quick replies ---------- */

function showChips(chips) {
  const box = $("chips");
  box.replaceChildren();
  for (const chip of chips.slice(0, 4)) {
    if (typeof chip !== "string" || !chip) continue;
    const button = document.createElement("button");
    button.type = "button"; button.className = "chip"; button.textContent = chip;
    button.addEventListener("click", () => { showChips([]); sendText(chip, true); $("message").focus(); });
    box.appendChild(button);
  }
  box.hidden = box.childElementCount === 0;
}

/* ---------- the customer's typing (a signal only: the text stays in the box until it is sent) ---------- */

function sendTyping(on) {
  if (conversationId === null || !session || on === typingOn && !on) return;
  typingOn = on;
  if (on) typingSentAt = Date.now();
  fetch(`/api/conversations/${conversationId}/typing`, { method: "POST",
    headers: withToken({ "Content-Type": "application/json" }), body: JSON.stringify({ on }) }).catch(() => {});
}


function stoppedTyping() { clearTimeout(typingIdle); sendTyping(false); }

/* ---------- continue on another device ---------- */

/** The listeners on the page's controls; chat.js calls it once its helpers (`$` and friends) exist. */
function installLiveControls() {
  $("message").addEventListener("input", () => {
    clearTimeout(typingIdle);
    if (!$("message").value.trim()) { sendTyping(false); return; }
    if (!typingOn || Date.now() - typingSentAt > TYPING_EVERY_MS) sendTyping(true);
    typingIdle = setTimeout(() => sendTyping(false), TYPING_EVERY_MS);
  });
  $("resume-open").addEventListener("click", offerResumeLink);
  $("resume-copy").addEventListener("click", copyResumeLink);
  $("resume-close").addEventListener("click", () => {
    $("resume-panel").hidden = true; $("resume-copied").textContent = ""; $("resume-open").focus();
  });
}

async function offerResumeLink() {
  const button = $("resume-open"), panel = $("resume-panel");
  button.disabled = true;
  $("resume-error").textContent = "";
  try {
    const res = await fetch(`/api/conversations/${conversationId}/resume-link`, { method: "POST",
      headers: withToken({}) });
    const body = await readJson(res);
    if (!res.ok) { $("resume-error").textContent = explain(body); panel.hidden = false; return; }
    $("resume-link").value = new URL(body.path, window.location.origin).href;
    $("resume-expiry").textContent = `Open it on your other device within ${Math.round(body.expires_in_s / 60)} `
      + "minutes. It works once.";
    panel.hidden = false;
    $("resume-link").focus(); $("resume-link").select();
  } catch (_) {
    $("resume-error").textContent = "We could not reach the server. Please try again.";
    panel.hidden = false;
  } finally { button.disabled = false; }
}

async function copyResumeLink() {
  const input = $("resume-link");
  try { await navigator.clipboard.writeText(input.value); }
  catch (_) { input.select(); document.execCommand("copy"); }  // clipboard API needs a secure context
  $("resume-copied").textContent = "Link copied.";
}

/** On load with `?resume=…`: this device takes over the conversation the link was made for. */
async function redeemResumeLink() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("resume");
  if (!token) return false;
  params.delete("resume");
  const query = params.toString();
  window.history.replaceState(null, "", window.location.pathname + (query ? `?${query}` : ""));  // used once
  try {
    const res = await fetch("/api/resume", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ resume_token: token }) });
    const body = await readJson(res);
    if (res.ok) { saveSession(body.conversation_id, body.conversation_token); return true; }
    $("lead-error").textContent = res.status === 410 || res.status === 401
      ? `${explain(body)}. You can also start a new chat below.` : explain(body);
  } catch (_) {
    $("lead-error").textContent = "We could not reach the server to open your conversation. Please reload.";
  }
  return false;
}
