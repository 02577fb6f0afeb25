"""Telling people: Slack's incoming webhook (`SLACK_WEBHOOK_URL`, POST {"text": ...}) and a generic JSON webhook
(`ALERT_WEBHOOK_URL`). One sender each, used by the operations alerts and by the handoff notice.

A handoff must never fail or wait long because Slack is down: each notice gets at most `attempts` tries (a retry
only after a connection error, a timeout, 429 or 5xx), then it is logged and dropped. The notice names the
conversation, the reason and the customer's first name, nothing else (no e-mail, phone or message text), and
links to the console.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from aibroker.domain.ports import HandoffNotice
from aibroker.logging import get_logger

log = get_logger(__name__)

TIMEOUT_S = 5.0
HANDOFF_TIMEOUT_S = 3.0  # per try: the notice is sent from inside the handoff
REASON_WORDS = {
    "explicit_request": "asked for a human", "frustration": "sounds frustrated", "compliance": "a compliance topic",
    "no_progress": "the bot could not help", "job_failed": "the bot failed to answer",
    "operator": "handed over by an operator",
}


class SlackWebhook:
    """Slack incoming webhook: POST {"text": …}; Slack answers 200 "ok" (anything else is a refusal)."""

    name = "slack"

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def post(self, text: str, payload: Mapping[str, Any] | None = None) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            response = await client.post(self._url, json={"text": text})
        response.raise_for_status()


class JsonWebhook:
    """Any endpoint that takes a JSON body (PagerDuty-style relays, n8n, Opsgenie integrations): the payload as is."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def post(self, text: str, payload: Mapping[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            response = await client.post(self._url, json=dict(payload))
        response.raise_for_status()


def notice_text(notice: HandoffNotice, console_url: str) -> str:
    who = notice.first_name or "A customer"
    reason = REASON_WORDS.get(notice.reason, notice.reason.replace("_", " "))
    link = f"{console_url}#conversation-{notice.conversation_id}"
    return (f":raising_hand: {who} is waiting for a human (conversation {notice.conversation_id}: {reason}). "
            f"<{link}|Open in the console>")


class SlackNotifier:
    """The handoff notice (`HandoffNotifier`), through the same Slack sender as the alerts."""

    def __init__(self, webhook_url: str, console_url: str, *, timeout_s: float = HANDOFF_TIMEOUT_S,
                 attempts: int = 2, retry_pause_s: float = 0.5) -> None:
        self._slack = SlackWebhook(webhook_url, timeout_s=timeout_s)
        self._console_url = console_url
        self._attempts = attempts
        self._retry_pause_s = retry_pause_s
        self.sent = 0
        self.dropped = 0

    async def handoff(self, notice: HandoffNotice) -> None:
        text = notice_text(notice, self._console_url)
        problem = ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._retry_pause_s)
            try:
                await self._slack.post(text)
            except httpx.HTTPStatusError as error:
                problem = f"HTTP {error.response.status_code}"
                if error.response.status_code != 429 and error.response.status_code < 500:
                    break  # a refused payload or a revoked webhook: trying again will not help
                continue
            except httpx.HTTPError as error:
                problem = type(error).__name__
                continue
            self.sent += 1
            return
        self.dropped += 1
        log.warning("Slack handoff notice for conversation %s dropped: %s", notice.conversation_id, problem)

    async def aclose(self) -> None:
        """Nothing held open: each post has its own short-lived client (notices are rare)."""
