"""Erasure (everything of one person, by e-mail) and retention (conversations idle for N days), PDPA.

Order, so that a failure half-way can always be finished by running the command again:
1. find the target (read only);
2. hold each of the person's conversations (the lock every reply job takes), so no job is mid-reply and none can
   write a message, event or stream entry after us; a job that comes later finds no conversation and ends
   quietly ("skipped: conversation erased");
3. delete the Redis event streams (if Redis is down nothing was deleted yet: 503 / exit 1, try again);
4. one database transaction: give back open broker slots, delete every row (adapters/db/erasure.py).

The purge works in batches (one transaction each) and takes no locks: its conversations have been idle for at
least a day, and a job that still arrives for one ends quietly like after an erasure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

from aibroker.domain.erasure import ErasureCounts, ErasureReport, ErasureTarget, erasure_email
from aibroker.domain.ports import ConversationLocks, EventStreams, PersonalData
from aibroker.errors import InvalidRequest
from aibroker.logging import get_logger

log = get_logger(__name__)

LOCK_WAIT_S = 30.0  # a reply holds its conversation for its pacing and generation: a few seconds
PURGE_BATCH = 200  # conversations per transaction: short transactions, bounded IN lists
NO_REDIS_NOTE = ("REDIS_URL is not set for this command: the conversations' Redis event streams were not deleted "
                 "(they expire 24 h after their last event; the admin route of a running server deletes them)")


class ErasureService:
    def __init__(self, data: PersonalData, streams: EventStreams | None, locks: ConversationLocks | None, *,
                 clock: Callable[[], datetime],
                 on_slots_freed: Callable[[], Awaitable[object]] | None = None) -> None:
        """`streams` and `locks` are None when no Redis is configured (the CLI without REDIS_URL);
        `on_slots_freed` hands freed broker slots to waiting leads (the workers' reconcile does it otherwise)."""
        self._data = data
        self._streams = streams
        self._locks = locks
        self._clock = clock
        self._on_slots_freed = on_slots_freed

    async def erase_email(self, raw_email: str) -> ErasureReport:
        email = erasure_email(raw_email)
        # The normalised address and the address as typed: intake may have hashed either.
        target = await self._data.find_by_email(sorted({email, raw_email.strip().lower()}))
        if target.empty:
            return ErasureReport.of("email", target, ErasureCounts(), self._no_streams(), self._notes())
        async with AsyncExitStack() as stack:
            if self._locks is not None:
                for conversation_id in target.conversation_ids:
                    await stack.enter_async_context(self._locks.hold(conversation_id, wait_s=LOCK_WAIT_S))
            streams = await self._forget(target)
            counts = await self._data.delete(target, release_reason="erased")
        await self._slots_freed(counts)
        log.info("erasure by e-mail: %d conversation(s) deleted: %s", len(target.conversations),
                 target.conversation_ids)
        return ErasureReport.of("email", target, counts, streams, self._notes())

    async def purge(self, older_than_days: int) -> ErasureReport:
        if older_than_days < 1:
            raise InvalidRequest("older_than_days: must be at least 1 (a purge never touches today's conversations)")
        before = self._clock() - timedelta(days=older_than_days)
        everything = ErasureTarget()
        total = ErasureCounts()
        streams: int | None = self._no_streams()
        while not (target := await self._data.find_inactive(before, PURGE_BATCH)).empty:
            forgotten = await self._forget(target)
            counts = await self._data.delete(target, release_reason="erased")
            streams = None if forgotten is None else (streams or 0) + forgotten
            total.add(counts)
            everything.conversations += target.conversations
            everything.inbox_conversation_ids += target.inbox_conversation_ids
            everything.inbox_contact_ids += target.inbox_contact_ids
            if not any(counts.deleted.values()):
                break  # what was found is no longer there to delete (changed meanwhile): stop, never spin
        await self._slots_freed(total)
        log.info("purge of conversations idle for %d day(s): %d deleted", older_than_days,
                 len(everything.conversations))
        return ErasureReport.of("age", everything, total, streams, self._notes())

    async def _forget(self, target: ErasureTarget) -> int | None:
        if self._streams is None:
            return None
        return await self._streams.forget(target.conversation_ids)

    def _no_streams(self) -> int | None:
        return None if self._streams is None else 0

    def _notes(self) -> list[str]:
        return [] if self._streams is not None else [NO_REDIS_NOTE]

    async def _slots_freed(self, counts: ErasureCounts) -> None:
        if counts.broker_slots_released and self._on_slots_freed is not None:
            try:
                await self._on_slots_freed()
            except Exception as error:  # the erasure is done; the workers' reconcile assigns waiting leads later
                log.warning("freed broker slots not handed to waiting leads yet: %s", type(error).__name__)
