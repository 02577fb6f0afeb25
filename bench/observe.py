"""What the benchmarks observe: samplers that run beside the load, and the database and Redis read afterwards.

Reply times are read from the database (the reply's `inbox_messages.created_at`, written by the worker when
the reply becomes visible) rather than by polling the HTTP API, so a poller cannot slow the system down or
round the figures up to its polling interval.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import redis as sync_redis
import redis.asyncio as aioredis
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import Conversation, InboxMessage, ReplyLedgerEntry
from aibroker.adapters.inbox.builtin import typing_key
from aibroker.config import Settings
from bench.system import BENCH_ADMIN, Infra, cpu_seconds, proc_status_kb


def job_stats(url: str, prefix: str, job_ids: list[str], queue: str = "aibroker") -> dict[str, int]:
    """How BullMQ ran these jobs, from their hashes (completed jobs are kept up to 1000, so later ones only):
    started more than once (`ats` > 1: a retry, or a stalled job run again), stalled (`stc` > 0), failed."""
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"{prefix}:{queue}:{job_id}", "ats", "stc", "failedReason", "finishedOn")
        rows = [row for row in pipe.execute() if any(row)]
    finally:
        client.close()
    started = [int(r[0] or 0) for r in rows]
    return {"jobs_found": len(rows), "started_more_than_once": sum(1 for n in started if n > 1),
            "max_starts": max(started, default=0), "stalled": sum(1 for r in rows if int(r[1] or 0) > 0),
            "failed_attempts_recorded": sum(1 for r in rows if r[2])}


# --- sampling while the load runs ---------------------------------------------------------------------------
@dataclass
class Samples:
    """Peaks (and a coarse time series) of how busy the workers were."""

    queue_active_max: int = 0  # BullMQ's active list (exact, sampled every `interval_s`)
    heartbeat_active_max: int = 0  # workers[].active_jobs from GET /api/worker/status (beats every 5 s)
    typing_max: int = 0  # conversations with the typing indicator on = in their pacing delay or generating
    rss_kb_max: dict[int, int] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)  # CPU seconds used while sampling, per process
    cpu_busy_max: dict[int, float] = field(default_factory=dict)  # busiest 1-second interval, 1.0 = one core
    names: dict[int, str] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def label(pid: int) -> str:
            return f"{self.names.get(pid, 'pid')}:{pid}"

        return {"queue_active_max": self.queue_active_max, "heartbeat_active_jobs_max": self.heartbeat_active_max,
                "typing_conversations_max": self.typing_max,
                "rss_mb_max": {label(pid): round(kb / 1024, 1) for pid, kb in self.rss_kb_max.items()},
                "cpu_s": {label(pid): round(s, 1) for pid, s in self.cpu_s.items()},
                "cpu_busiest_second_cores": {label(pid): round(b, 2) for pid, b in self.cpu_busy_max.items()}}


@asynccontextmanager
async def sampling(infra: Infra, base_url: str, reader: DbReader, pids: Callable[[], dict[int, str]],
                   interval_s: float = 0.25, status_every_s: float = 1.0,
                   distinct_active: bool = False) -> AsyncIterator[Samples]:
    """Samples the queue's active list, typing flags, RSS and CPU of `pids()` ({pid: name}; the driver
    itself is added as "driver") every `interval_s`, and the worker heartbeats every `status_every_s`."""
    samples = Samples()
    cpu_start: dict[int, float] = {}
    cpu_last: dict[int, tuple[float, float]] = {}
    redis = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    active_key = f"{infra.prefix}:aibroker:active"
    stop = asyncio.Event()

    async def loop() -> None:
        started = time.monotonic()
        next_status = 0.0
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            while not stop.is_set():
                now = time.monotonic() - started
                point: dict[str, Any] = {"t": round(now, 2)}
                with suppress(Exception):
                    if distinct_active:  # count job ids, and list entries separately
                        entries = await redis.lrange(active_key, 0, -1)
                        point["active"], point["active_entries"] = len(set(entries)), len(entries)
                    else:
                        point["active"] = int(await redis.llen(active_key))
                    samples.queue_active_max = max(samples.queue_active_max, point["active"])
                with suppress(Exception):
                    point["typing"] = await reader.typing_count()
                    samples.typing_max = max(samples.typing_max, point["typing"])
                watched = {**pids(), os.getpid(): "driver"}
                samples.names.update(watched)
                for pid in watched:
                    rss = proc_status_kb(pid, "VmRSS")
                    if rss:
                        samples.rss_kb_max[pid] = max(samples.rss_kb_max.get(pid, 0), rss)
                        point.setdefault("rss_mb", {})[samples.names[pid]] = round(rss / 1024, 1)
                if now >= next_status:  # once a second: CPU use per process, and the worker heartbeats
                    next_status = now + status_every_s
                    for pid in watched:
                        cpu, at = cpu_seconds(pid), time.monotonic()
                        if cpu is None:
                            continue
                        samples.cpu_s[pid] = cpu - cpu_start.setdefault(pid, cpu)
                        if pid in cpu_last and at > cpu_last[pid][0]:
                            busy = (cpu - cpu_last[pid][1]) / (at - cpu_last[pid][0])
                            samples.cpu_busy_max[pid] = max(samples.cpu_busy_max.get(pid, 0.0), busy)
                            point.setdefault("cpu", {})[samples.names[pid]] = round(busy, 2)
                        cpu_last[pid] = (at, cpu)
                    with suppress(Exception):
                        beats = (await client.get("/api/worker/status", headers=BENCH_ADMIN)).json()["workers"]
                        point["heartbeat_active"] = sum(int(b.get("active_jobs", 0)) for b in beats)
                        samples.heartbeat_active_max = max(samples.heartbeat_active_max, point["heartbeat_active"])
                samples.series.append(point)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)

    task = asyncio.create_task(loop())
    try:
        yield samples
    finally:
        stop.set()
        await task
        await redis.aclose()


# --- reading results from the database ----------------------------------------------------------------------
def _utc(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class DbReader:
    """Read-only queries over the product's tables (the reply ledger and the built-in inbox)."""

    def __init__(self, database_url: str, redis_url: str, prefix: str) -> None:
        self.engine: AsyncEngine = create_engine(Settings(_env_file=None,  # type: ignore[call-arg]
                                                          DATABASE_URL=database_url).sqlalchemy_url)
        # (the built-in inbox's typing indicators live in Redis: adapters/inbox/builtin.py)
        self._redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._typing_keys = typing_key(prefix, "*")

    async def aclose(self) -> None:
        await self.engine.dispose()
        await self._redis.aclose()

    async def finished_count(self, prefix: str) -> int:
        """Ledger rows (`greeting` or `message:%`) that are sent or skipped."""
        async with self.engine.connect() as db:
            query = select(func.count()).select_from(ReplyLedgerEntry).where(
                ReplyLedgerEntry.key.like(prefix + "%"), ReplyLedgerEntry.state != "claimed")
            return int(await db.scalar(query) or 0)

    async def typing_count(self) -> int:
        return len(await self.typing_ids())

    async def typing_ids(self) -> list[int]:
        """The inbox conversations with the typing indicator on."""
        return [int(key.rsplit(":", 1)[1]) async for key in self._redis.scan_iter(match=self._typing_keys, count=1000)]

    async def wait_finished(self, prefix: str, expected: int, timeout_s: float, settle_s: float = 0.0) -> int:
        """Poll (cheaply, every 0.25 s) until `expected` ledger rows are finished or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        done = 0
        while time.monotonic() < deadline:
            done = await self.finished_count(prefix)
            if done >= expected:
                break
            await asyncio.sleep(0.25)
        if settle_s:
            await asyncio.sleep(settle_s)  # give a duplicate the chance to show up before counting
        return done

    async def ledger(self, conversation_ids: list[int]) -> list[dict[str, Any]]:
        """Every ledger row of these conversations, with the created_at of the message it sent."""
        rows: list[dict[str, Any]] = []
        async with self.engine.connect() as db:
            for chunk in _chunks(conversation_ids, 500):
                query = (select(ReplyLedgerEntry.conversation_id, ReplyLedgerEntry.key, ReplyLedgerEntry.state,
                                ReplyLedgerEntry.attempts, ReplyLedgerEntry.sent_message_id,
                                ReplyLedgerEntry.reply_key, ReplyLedgerEntry.note, InboxMessage.created_at)
                         .outerjoin(InboxMessage, InboxMessage.id == cast(ReplyLedgerEntry.sent_message_id, Integer))
                         .where(ReplyLedgerEntry.conversation_id.in_(chunk)))
                for r in (await db.execute(query)).all():
                    rows.append({"conversation_id": r[0], "key": r[1], "state": r[2], "attempts": r[3],
                                 "sent_message_id": r[4], "reply_key": r[5], "note": r[6], "sent_at": _utc(r[7])})
        return rows

    async def bot_messages(self, conversation_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """The visible bot messages of each of these conversations (what the customer would see)."""
        out: dict[int, list[dict[str, Any]]] = {c: [] for c in conversation_ids}
        async with self.engine.connect() as db:
            for chunk in _chunks(conversation_ids, 500):
                query = (select(Conversation.id, InboxMessage.id, InboxMessage.source_id, InboxMessage.created_at)
                         .join(InboxMessage, InboxMessage.conversation_id == cast(Conversation.inbox_conversation_id,
                                                                                   Integer))
                         .where(Conversation.id.in_(chunk), Conversation.inbox == "builtin",
                                InboxMessage.role == "bot", InboxMessage.private.is_(False)))
                for conversation_id, message_id, source_id, created_at in (await db.execute(query)).all():
                    out[conversation_id].append({"id": str(message_id), "source_id": source_id,
                                                 "created_at": _utc(created_at)})
        return out


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def audit_replies(ledger: list[dict[str, Any]], bot_messages: dict[int, list[dict[str, Any]]]) -> dict[str, int]:
    """Count what the customer would see twice. Every bot message carries the tag `aibroker:{conv}:{key}` of the
    ledger row it answers (a burst's reply: its leader's key). A duplicate is a second visible bot message
    for one key, or a message whose key's ledger row records a different sent message, or an untagged one.
    A message whose row is still `claimed` was sent but not yet recorded: in flight, not a duplicate."""
    rows = {(r["conversation_id"], r["key"]): r for r in ledger}
    duplicates = in_flight = 0
    for conversation_id, messages in bot_messages.items():
        seen: set[str] = set()
        for message in messages:
            parts = (message["source_id"] or "").split(":", 2)
            if len(parts) != 3 or parts[0] != "aibroker" or parts[1] != str(conversation_id):
                duplicates += 1
                continue
            key = parts[2]
            row = rows.get((conversation_id, key))
            if key in seen or (row is not None and row["state"] == "sent" and row["sent_message_id"] != message["id"]):
                duplicates += 1
            elif row is None or row["state"] == "claimed":
                in_flight += 1
            seen.add(key)
    return {"duplicates": duplicates, "sent_not_yet_recorded": in_flight,
            "retried_ledger_rows": sum(1 for r in ledger if r["attempts"] > 1),
            "skipped": sum(1 for r in ledger if r["state"] == "skipped"),
            "handoffs": sum(1 for r in ledger if (r["note"] or "").startswith("handoff"))}


def wall_ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) * 1000


