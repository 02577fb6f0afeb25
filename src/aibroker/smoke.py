"""`aibroker smoke --base-url URL`: one test lead through a running deployment, step by step, timed.

Opens a lead through the public form's route, marks its conversation as a smoke test (admin token) so analytics
leave it out, waits for the greeting, asks one question, and checks that the reply arrives within the SLA and
states a figure. Each step prints its time; the first failing step ends the run (exit status 1).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

QUESTION = "How much can I borrow for a S$600,000 HDB flat?"
FIGURE = re.compile(r"S\$\s?\d[\d,]*|\d+(?:\.\d+)?\s?%")  # a dollar amount or a percentage
POLL_S = 0.2


class SmokeFailure(Exception):
    pass


@dataclass
class SmokeRun:
    base_url: str
    admin_token: str
    sla_ms: int = 5000
    timeout_s: float = 30.0
    say: Callable[[str], None] = print
    steps: list[tuple[str, float]] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url.rstrip("/"), timeout=10) as client:
            self._client = client
            lead = self._step("open a test lead", self._open_lead)
            conversation_id, headers = lead["conversation_id"], {"X-Conversation-Token": lead["conversation_token"]}
            self._step("mark it as a smoke test", lambda: self._mark(conversation_id))
            self._step("greeting arrives", lambda: self._bot_messages(conversation_id, headers, 1))
            self._step("ask a question", lambda: self._ask(conversation_id, headers))
            asked = time.monotonic()
            reply = self._step("reply arrives", lambda: self._bot_messages(conversation_id, headers, 2))[-1]
            waited_ms = (time.monotonic() - asked) * 1000
            if waited_ms > self.sla_ms:
                raise SmokeFailure(f"the reply took {waited_ms:.0f} ms, over the {self.sla_ms} ms SLA")
            if not FIGURE.search(reply["content"]):
                raise SmokeFailure(f"the reply states no figure: {reply['content'][:200]!r}")
            self.say(f"ok    reply within the SLA ({waited_ms:.0f} ms ≤ {self.sla_ms} ms) and it states a figure")

    def _step(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            result = work()
        except httpx.HTTPError as error:
            self.say(f"FAIL  {name}: {type(error).__name__}: {error}")
            raise SmokeFailure(f"{name}: {error}") from error
        except SmokeFailure as error:
            self.say(f"FAIL  {name}: {error}")
            raise
        elapsed = (time.monotonic() - started) * 1000
        self.steps.append((name, elapsed))
        self.say(f"ok    {name} ({elapsed:.0f} ms)")
        return result

    def _checked(self, response: httpx.Response) -> Any:
        if response.status_code >= 300:
            raise SmokeFailure(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    def _open_lead(self) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:10]
        return dict(self._checked(self._client.post("/api/leads", json={
            "name": "Smoke Test", "email": f"smoke-{tag}@example.com", "loanType": "new_purchase",
            "propertyCategory": "resale", "propertyType": "HDB", "actualIncomes": [8000], "actualAges": [35],
            "timeline": "exploring", "sessionId": f"smoke-{tag}", "consent": True})))

    def _mark(self, conversation_id: int) -> None:
        self._checked(self._client.post(f"/api/admin/conversations/{conversation_id}/smoke-test",
                                        headers={"Authorization": f"Bearer {self.admin_token}"}))

    def _ask(self, conversation_id: int, headers: dict[str, str]) -> None:
        self._checked(self._client.post(f"/api/conversations/{conversation_id}/messages", json={"content": QUESTION},
                                        headers=headers))

    def _bot_messages(self, conversation_id: int, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            messages = self._checked(self._client.get(f"/api/conversations/{conversation_id}/messages",
                                                      headers=headers))["messages"]
            bot = [m for m in messages if m["role"] == "bot"]
            if len(bot) >= count:
                return bot
            if time.monotonic() > deadline:
                raise SmokeFailure(f"nothing within {self.timeout_s:g} s")
            time.sleep(POLL_S)
