"""A fake Chatwoot for tests: a real HTTP server (FastAPI under uvicorn, in a thread, on 127.0.0.1) that
speaks the Application API routes aibroker uses and sends signed webhooks back, the way Chatwoot does.

    with running_fake_chatwoot(webhook_url="http://127.0.0.1:8000/api/webhooks/chatwoot", secret="s") as cw:
        inbox = ChatwootInbox(cw.base_url, cw.account_id, cw.inbox_id, cw.user_token, cw.bot_token)
        conversation = cw.new_conversation(name="Jane", email="jane@example.com")
        cw.customer_says(conversation.id, "hello")        # incoming message + message_created webhook
        cw.flush_webhooks()
        cw.messages(conversation.id), cw.conversation(conversation.id).labels, cw.typing(conversation.id)
        cw.faults.fail_next(2, status=429, retry_after=1)  # see fake_chatwoot_faults.py

Webhooks (when `webhook_url` is set; it can be set after start): `message_created` for every created message,
including the echo of our own outgoing messages and private notes; `conversation_status_changed` and
`conversation_updated` on status changes. Bodies are compact JSON with `<`, `>`, `&` escaped like Rails;
with a secret, `X-Chatwoot-Timestamp` and `X-Chatwoot-Signature: sha256=HMAC(secret, "ts.body")` are added.
`faults.duplicate_webhooks = n` delivers each webhook n extra times (same delivery id, fresh signature).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.fakes.fake_chatwoot_app import build_app, change_status
from tests.fakes.fake_chatwoot_faults import FaultPlan
from tests.fakes.fake_chatwoot_state import Conversation, FakeState, Message

STATUS_EVENTS = ("conversation_status_changed", "conversation_updated")


def encode_like_rails(payload: Any) -> bytes:
    """ActiveSupport's JSON: compact, raw UTF-8, with < > & and the JS line separators escaped."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text.encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    event: str
    delivery_id: str
    body: bytes
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class WebhookSender:
    """Delivers webhooks in order from one thread, like a Sidekiq queue with one worker."""

    def __init__(self, url: str | None, secret: str | None, faults: FaultPlan,
                 timeout_s: float = 5.0) -> None:
        self.url, self.secret, self._faults = url, secret, faults
        self.emitted: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._client = httpx.Client(timeout=timeout_s)
        self._thread = threading.Thread(target=self._run, name="fake-chatwoot-webhooks", daemon=True)
        self._thread.start()

    def emit(self, payload: dict[str, Any]) -> None:
        self.emitted.append(payload)
        if self.url:
            self._queue.put(payload)

    def deliver(self, payload: dict[str, Any], delivery_id: str) -> Delivery:
        body = encode_like_rails(payload)
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Chatwoot-Delivery": delivery_id}
        if self.secret:
            timestamp = str(int(time.time()))
            headers |= {"X-Chatwoot-Timestamp": timestamp,
                        "X-Chatwoot-Signature": sign(self.secret, timestamp, body)}
        delivery = Delivery(str(payload.get("event")), delivery_id, body, headers)
        try:
            delivery.status = self._client.post(str(self.url), content=body, headers=headers).status_code
        except httpx.HTTPError as error:
            delivery.error = type(error).__name__
        self.deliveries.append(delivery)
        return delivery

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            try:
                delivery_id = str(uuid.uuid4())
                for _ in range(1 + self._faults.duplicate_webhooks):
                    self.deliver(payload, delivery_id)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("webhooks still pending")
            time.sleep(0.005)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._client.close()


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn on a free 127.0.0.1 port in a daemon thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class FakeChatwoot:
    def __init__(self, base_url: str, state: FakeState, faults: FaultPlan, sender: WebhookSender,
                 status_events: tuple[str, ...]) -> None:
        self.base_url = base_url
        self.state, self.faults, self._sender, self._status_events = state, faults, sender, status_events
        self.account_id = int(state.account["id"])
        self.inbox_id = int(state.inbox["id"])
        self.user_token, self.bot_token = "user-token", "bot-token"

    # --- webhook target (may be set after start, e.g. once the app under test is listening) --------------
    @property
    def webhook_url(self) -> str | None:
        return self._sender.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._sender.url = url

    @property
    def secret(self) -> str | None:
        return self._sender.secret

    @secret.setter
    def secret(self, secret: str | None) -> None:
        self._sender.secret = secret

    @property
    def webhooks(self) -> list[Delivery]:
        """Deliveries made so far (duplicates included), in order."""
        return list(self._sender.deliveries)

    @property
    def emitted(self) -> list[dict[str, Any]]:
        """Every webhook payload Chatwoot would have sent, delivered or not."""
        return list(self._sender.emitted)

    def flush_webhooks(self, timeout: float = 5.0) -> None:
        self._sender.flush(timeout)

    def pending_webhooks(self) -> int:
        """Webhooks queued and not yet delivered (the one being delivered included)."""
        return int(self._sender._queue.unfinished_tasks)

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send a past delivery's payload again (same delivery id, new timestamp and signature)."""
        return self._sender.deliver(delivery.payload, delivery.delivery_id)

    # --- acting as the customer or a human agent ----------------------------------------------------------
    def new_conversation(self, *, name: str = "Jane Tan", email: str | None = None,
                         phone: str | None = None, status: str = "pending",
                         custom_attributes: dict[str, Any] | None = None) -> Conversation:
        contact = self.state.add_contact(name, email, phone)
        return self.state.add_conversation(contact.id, status=status, custom_attributes=custom_attributes)

    def customer_says(self, conversation_id: int | str, text: str) -> Message:
        """An incoming message from the conversation's contact, with its message_created webhook."""
        with self.state.lock:
            conversation = self.state.conversations[int(conversation_id)]
            message = self.state.add_message(conversation.id, text, kind="incoming",
                                             sender=self.state.contact_actor(conversation))
            self._sender.emit(self.state.message_webhook(message))
        return replace(message)

    def agent_says(self, conversation_id: int | str, text: str, *, private: bool = False) -> Message:
        """A human agent's reply (or private note) typed in the Chatwoot dashboard."""
        with self.state.lock:
            message = self.state.add_message(int(conversation_id), text, kind="outgoing",
                                             sender=self.state.user, private=private)
            self._sender.emit(self.state.message_webhook(message))
        return replace(message)

    def set_status(self, conversation_id: int | str, status: str) -> None:
        """An agent changes the status in the dashboard (webhooks follow)."""
        change_status(self.state, self.state.conversations[int(conversation_id)], status, self._sender.emit,
                      self._status_events)

    # --- inspection ----------------------------------------------------------------------------------------
    def messages(self, conversation_id: int | str) -> list[Message]:
        return self.state.snapshot_messages(int(conversation_id))

    def conversation(self, conversation_id: int | str) -> Conversation:
        with self.state.lock:
            found = self.state.conversations[int(conversation_id)]
            return replace(found, custom_attributes=dict(found.custom_attributes), labels=list(found.labels))

    def typing(self, conversation_id: int | str) -> list[str]:
        with self.state.lock:
            return [status for conv, status, _ in self.state.typing_log if conv == int(conversation_id)]

    def requests(self, method: str | None = None, path: str | None = None) -> list[tuple[str, str]]:
        """Requests received (method, path), optionally those whose path ends with `path`."""
        with self.state.lock:
            return [(m, p) for m, p in self.state.requests
                    if (method is None or m == method.upper()) and (path is None or p.endswith(path))]


@contextmanager
def running_fake_chatwoot(webhook_url: str | None = None, secret: str | None = None, *, account_id: int = 1,
                          inbox_id: int = 1, channel: str = "Channel::Api", inbox_has_bot: bool = True,
                          status_events: tuple[str, ...] = STATUS_EVENTS) -> Iterator[FakeChatwoot]:
    state = FakeState(account_id=account_id, inbox_id=inbox_id, channel=channel, inbox_has_bot=inbox_has_bot)
    faults = FaultPlan()
    sender = WebhookSender(webhook_url, secret, faults)
    app = build_app(state, faults, sender.emit, status_events=status_events)
    try:
        with serve_in_thread(app) as base_url:
            yield FakeChatwoot(base_url, state, faults, sender, status_events)
    finally:
        sender.close()
