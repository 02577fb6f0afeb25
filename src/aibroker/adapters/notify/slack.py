"""The handoff notice to Slack (SLACK_WEBHOOK_URL, an incoming webhook: POST {"text": ...}).

A handoff must never fail or wait long because Slack is down: each notice gets at most `attempts` tries of
`timeout_s` each (a retry only after a connection error, a timeout, 429 or 5xx), then it is logged and dropped.
The notice names the conversation, the reason and the customer's first name, nothing else (no e-mail, phone or
message text), and links to the console.
"""

from __future__ import annotations

import asyncio

import httpx

from aibroker.domain.ports import HandoffNotice
from aibroker.logging import get_logger

log = get_logger(__name__)

REASON_WORDS = {
    "explicit_request": "asked for a human", "frustration": "sounds frustrated", "compliance": "a compliance topic",
    "no_progress": "the bot could not help", "job_failed": "the bot failed to answer",
    "operator": "handed over by an operator",
}


def notice_text(notice: HandoffNotice, console_url: str) -> str:
    who = notice.first_name or "A customer"
    reason = REASON_WORDS.get(notice.reason, notice.reason.replace("_", " "))
    link = f"{console_url}#conversation-{notice.conversation_id}"
    return (f":raising_hand: {who} is waiting for a human (conversation {notice.conversation_id}: {reason}). "
            f"<{link}|Open in the console>")


class SlackNotifier:
    def __init__(self, webhook_url: str, console_url: str, *, timeout_s: float = 3.0, attempts: int = 2,
                 retry_pause_s: float = 0.5) -> None:
        self._url = webhook_url
        self._console_url = console_url
        self._attempts = attempts
        self._retry_pause_s = retry_pause_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self.sent = 0
        self.dropped = 0

    async def handoff(self, notice: HandoffNotice) -> None:
        body = {"text": notice_text(notice, self._console_url)}
        problem = ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._retry_pause_s)
            try:
                response = await self._client.post(self._url, json=body)
            except httpx.HTTPError as error:
                problem = type(error).__name__
                continue
            if response.is_success:
                self.sent += 1
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break  # a refused payload or a revoked webhook: trying again will not help
        self.dropped += 1
        log.warning("Slack handoff notice for conversation %s dropped: %s", notice.conversation_id, problem)

    async def aclose(self) -> None:
        await self._client.aclose()
