"""aibroker wired to the fake Chatwoot HTTP server: the API in a thread, workers as OS processes.

    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        lead = stack.api.post("/api/leads", json=LEAD).json()
        conv = stack.inbox_id_of(lead["conversation_id"])      # Chatwoot's conversation id
        stack.cw.customer_says(conv, "hello")                  # signed webhook → our API → worker
        stack.settle()                                         # webhooks delivered, queue idle
        bot_replies(stack.cw, conv)

Only the fake is a stand-in; everything of ours runs as in production, configured by settings alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aibroker.config import Settings
from tests.fakes.fake_chatwoot import FakeChatwoot, encode_like_rails, running_fake_chatwoot, sign
from tests.fakes.fake_chatwoot_state import Message
from tests.support.app import ADMIN, running_api, running_workers
from tests.support.db import query
from tests.support.servers import WorkerProcess, wait_for

SECRET = "cw-webhook-secret"
WEBHOOK_PATH = "/api/webhooks/chatwoot"
OUR_TAG = "aibroker:"  # every reply we post carries source_id "aibroker:…" (private notes "aibroker-note:…")
BUSY = ("active", "waiting", "delayed", "prioritized")


def chatwoot_env(cw: FakeChatwoot, *, user_token: bool = True, bot_token: bool = True,
                 secret: str | None = SECRET, allow_unsigned: bool = False) -> dict[str, object]:
    """The CHATWOOT_* settings an operator would write for this (fake) Chatwoot."""
    env: dict[str, object] = {"CHATWOOT_BASE_URL": cw.base_url, "CHATWOOT_ACCOUNT_ID": cw.account_id,
                              "CHATWOOT_INBOX_ID": cw.inbox_id, "CHATWOOT_ALLOW_UNSIGNED": allow_unsigned}
    if user_token:
        env["CHATWOOT_API_TOKEN"] = cw.user_token
    if bot_token:
        env["CHATWOOT_BOT_TOKEN"] = cw.bot_token
    if secret is not None:
        env["CHATWOOT_WEBHOOK_SECRET"] = secret
    return env


@dataclass
class Stack:
    cw: FakeChatwoot
    settings: Settings
    api: httpx.Client
    workers: list[WorkerProcess] = field(default_factory=list)

    def inbox_id_of(self, conversation_id: int) -> int:
        """Chatwoot's id (display_id) of one of our conversations, as an operator's SQL console shows it."""
        rows = query(self.settings, "SELECT inbox_conversation_id FROM conversations WHERE id = :c",
                     c=conversation_id)
        return int(rows[0]["inbox_conversation_id"])

    def _counts(self) -> dict[str, int] | None:
        health = self.api.get("/api/health", headers=ADMIN).json()
        counts: dict[str, int] | None = health["parts"]["queue"].get("counts")
        return counts  # None when the health check's own time limit ran out (a loaded machine)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = wait_for(self._counts, what="queue counts")
        return counts

    def idle(self) -> bool:
        counts = self._counts()
        return counts is not None and all(counts[name] == 0 for name in BUSY)

    def settle(self, timeout_s: float = 30.0) -> dict[str, int]:
        """Until every webhook is delivered and the queue is idle, twice in a row (a job's own echoes
        and status webhooks may queue nothing, or something). Returns the queue counts."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.cw.flush_webhooks(timeout=max(deadline - time.monotonic(), 0.1))
            wait_for(self.idle, timeout_s=max(deadline - time.monotonic(), 0.1), interval_s=0.05,
                     what="idle queue")
            time.sleep(0.2)
            delivered = len(self.cw.webhooks)
            self.cw.flush_webhooks(timeout=max(deadline - time.monotonic(), 0.1))
            if self.idle() and len(self.cw.webhooks) == delivered:
                return self.counts()

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        """Our record of it, as an operator sees it (the admin token opens every conversation)."""
        response = self.api.get(f"/api/conversations/{conversation_id}", headers=ADMIN)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def running_api_for(cw: FakeChatwoot, settings: Settings) -> Iterator[httpx.Client]:
    """Our API, with the fake's webhooks pointed at it (Chatwoot's agent-bot outgoing URL)."""
    with running_api(settings) as api:
        previous = cw.webhook_url
        cw.webhook_url = f"{api.base_url}{WEBHOOK_PATH}"
        try:
            yield api
        finally:
            cw.flush_webhooks()
            cw.webhook_url = previous


@contextmanager
def chatwoot_stack(make_settings: Any, db_url: str, tmp_path: Path, *, workers: int = 1,
                   user_token: bool = True, bot_token: bool = True, secret: str | None = SECRET,
                   **env: object) -> Iterator[Stack]:
    with ExitStack() as stack:
        cw = stack.enter_context(running_fake_chatwoot(secret=secret))
        settings: Settings = make_settings(db_url, **chatwoot_env(cw, user_token=user_token, bot_token=bot_token,
                                                                  secret=secret), **env)
        api = stack.enter_context(running_api_for(cw, settings))
        processes = stack.enter_context(running_workers(settings, tmp_path, count=workers)) if workers else []
        yield Stack(cw, settings, api, processes)


# --- reading the fake Chatwoot ---------------------------------------------------------------------------
def ours(message: Message) -> bool:
    return (message.source_id or "").startswith(OUR_TAG)


def bot_replies(cw: FakeChatwoot, conversation: int) -> list[Message]:
    """Public outgoing messages we posted (greeting, answers, handoff line): what the customer sees from us."""
    return [m for m in cw.messages(conversation) if m.kind == "outgoing" and not m.private and ours(m)]


def private_notes(cw: FakeChatwoot, conversation: int) -> list[Message]:
    return [m for m in cw.messages(conversation) if m.private]


def deliveries_of(cw: FakeChatwoot, message_id: int) -> list[Any]:
    return [d for d in cw.webhooks if d.event == "message_created" and d.payload.get("id") == message_id]


# --- webhooks as Chatwoot (or an attacker) would send them --------------------------------------------------
def post_webhook(api: httpx.Client, body: bytes | Any, *, secret: str | None = SECRET,
                 timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else encode_like_rails(body)
    headers = {"Content-Type": "application/json", "X-Chatwoot-Delivery": "test-delivery"}
    if secret is not None or signature is not None:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers["X-Chatwoot-Timestamp"] = stamp
        headers["X-Chatwoot-Signature"] = signature or sign(str(secret), stamp, raw)
    return api.post(WEBHOOK_PATH, content=raw, headers=headers)


def status_of(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    status: str = json.loads(response.content)["status"]
    return status
