"""Live events also published to Ably (ENABLE_ABLY_REALTIME, ABLY_API_KEY), over Ably's REST API, for sites whose
front ends already listen there. Our own event stream (SSE) does not need it.

Each live event (domain/live_events.py: message, typing, read, status, sla) goes to the conversation's channel,
`aibroker:conversation-<id>`, and to the agents' channel, `aibroker:console`, as an Ably message named after the
event, with the event's data and, as its id, the Redis stream entry id (Ably drops a repeated id: idempotent).

Sending never holds up the caller (a reply is not slowed by Ably): each publish runs as a task, at most
`MAX_PENDING` at once (more are dropped and counted); failures are logged and counted.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx

from aibroker.domain.live_events import LiveEvent
from aibroker.logging import get_logger

log = get_logger(__name__)

DEFAULT_REST_URL = "https://rest.ably.io"
TIMEOUT_S = 5.0
MAX_PENDING = 200
CONSOLE_CHANNEL = "aibroker:console"


def conversation_channel(conversation_id: int) -> str:
    return f"aibroker:conversation-{conversation_id}"


class AblyForwarder:
    def __init__(self, api_key: str, rest_url: str = DEFAULT_REST_URL) -> None:
        name, _, secret = api_key.partition(":")
        self._client = httpx.AsyncClient(base_url=rest_url.rstrip("/"), auth=(name, secret), timeout=TIMEOUT_S)
        self._pending: set[asyncio.Task[None]] = set()
        self.sent = self.failures = self.dropped = 0

    def forward(self, conversation_id: int, entry_id: str, event: LiveEvent) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        task = asyncio.create_task(self._publish(conversation_id, entry_id, event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, conversation_id: int, entry_id: str, event: LiveEvent) -> None:
        message = {"id": f"aibroker-{conversation_id}-{entry_id}", "name": event.name,
                   "data": json.dumps(event.data, default=str), "encoding": "json"}
        for channel in (conversation_channel(conversation_id), CONSOLE_CHANNEL):
            try:
                response = await self._client.post(f"/channels/{quote(channel, safe='')}/messages", json=message)
                response.raise_for_status()
                self.sent += 1
            except httpx.HTTPError as error:
                self.failures += 1
                log.warning("event %s not published to Ably: %s", event.name, type(error).__name__)

    async def aclose(self) -> None:
        """Let publishes under way finish (briefly), then close the connections."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=TIMEOUT_S)
        await self._client.aclose()
