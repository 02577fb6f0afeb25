"""Rollout switches at run time: the environment's values until an operator changes them (admin API, CLI).

Every process reads the stored switches through a cache of at most `CACHE_TTL_S`, so a change is in force on every
API and worker process within that time without any process talking to another. A database hiccup keeps the last
values read (or the environment's) rather than failing a webhook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.rollout import Route, Switches, effective_route, legacy_url_problem, route_new
from aibroker.errors import Conflict, InvalidRequest
from aibroker.logging import get_logger

ACTOR_MAX_LENGTH = 120  # rollout_audit.actor
log = get_logger(__name__)

CACHE_TTL_S = 4.0  # the bound is 5 s; reading takes a moment too


class SwitchStore(Protocol):
    async def load_switches(self) -> tuple[Switches, dict[str, Any]] | None: ...

    async def save_switches(self, before: Switches, after: Switches, actor: str) -> dict[str, Any]: ...

    async def audit(self, limit: int = 100) -> list[dict[str, Any]]: ...


class RolloutControl:
    def __init__(self, store: SwitchStore, environment: Switches, n8n_url: str | None, *,
                 ttl_s: float = CACHE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.environment = environment
        self._n8n_url = n8n_url
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: tuple[Switches, dict[str, Any] | None] | None = None
        self._read_at = 0.0
        self._reading = asyncio.Lock()

    async def _read(self) -> tuple[Switches, dict[str, Any] | None]:
        if self._cached is not None and self._clock() - self._read_at < self._ttl_s:
            return self._cached
        async with self._reading:  # one read refreshes the cache for every request waiting on it
            return await self._refresh()

    async def _refresh(self) -> tuple[Switches, dict[str, Any] | None]:
        if self._cached is not None and self._clock() - self._read_at < self._ttl_s:
            return self._cached
        try:
            stored = await self._store.load_switches()
            self._cached = stored if stored is not None else (self.environment, None)
        except Exception as error:  # keep serving with what we knew; the next read tries again
            log.warning("rollout switches not readable (%s); using the last known values", type(error).__name__)
            if self._cached is None:
                return self.environment, None
        self._read_at = self._clock()
        return self._cached

    async def switches(self) -> Switches:
        return (await self._read())[0]

    async def describe(self) -> dict[str, Any]:
        """The switches, where they come from, and the audit list."""
        switches, changed = await self._read()
        source = "run-time change" if changed is not None else "environment"
        return {**switches.model_dump(), "source": source, "changed": changed,
                "environment": self.environment.model_dump(), "n8n_configured": self._n8n_url is not None,
                "audit": await self._store.audit()}

    async def change(self, actor: str, **changes: Any) -> dict[str, Any]:
        """Apply an operator's change (validated as a whole), audited; in force here at once."""
        actor = actor[:ACTOR_MAX_LENGTH]  # the audit column's size: a long `--by` must not fail the change
        before = await self._fresh()
        try:
            after = Switches.model_validate({**before.model_dump(), **changes})
        except ValueError as error:
            raise InvalidRequest(f"invalid rollout switches: {error}") from error
        if (problem := legacy_url_problem(after, self._n8n_url)) is not None:
            raise Conflict(problem)  # well-formed, but this deployment has no n8n to send the rest to
        changed = await self._store.save_switches(before, after, actor)
        self._cached, self._read_at = None, 0.0
        log.warning("rollout switches changed by %s: %s", actor, changed)
        return changed

    async def _fresh(self) -> Switches:
        self._cached, self._read_at = None, 0.0
        return await self.switches()

    async def route_for_new(self, inbox: str, inbox_conversation_id: str) -> Route:
        return route_new(await self.switches(), inbox, inbox_conversation_id)

    async def route_of(self, conversation: ConversationRecord) -> Route:
        return effective_route(await self.switches(), conversation.route)

    async def bot_enabled(self) -> bool:
        return (await self.switches()).enable_ai_broker
