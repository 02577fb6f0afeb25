"""Composition of the operating parts (issue #13): analytics, metrics, alerts. Kept beside `bootstrap.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aibroker.adapters.db.analytics import SqlAnalytics
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.metrics import prometheus
from aibroker.worker.heartbeat import read_heartbeats

if TYPE_CHECKING:
    from aibroker.bootstrap import Container


@dataclass
class OpsParts:
    analytics: SqlAnalytics


def build_ops(store: SqlStore) -> OpsParts:
    return OpsParts(analytics=SqlAnalytics(store.sessions))


def circuit_states(container: Container) -> dict[str, bool]:
    """Open circuits this process holds: Chatwoot's breaker (only with Chatwoot configured)."""
    breaker = getattr(container.inbox, "breaker", None)
    return {"chatwoot": breaker.state == "open"} if breaker is not None else {}


async def refresh_shared_metrics(container: Container) -> None:
    """Read the figures every process shares (queue, brokers, workers) into this process's gauges."""
    settings = container.settings
    brokers = await container.store.list_brokers()
    beats = await read_heartbeats(container.redis, settings.queue_prefix, settings.queue_name)
    prometheus.set_shared(counts=await container.queue.counts(), paused=await container.queue.is_paused(),
                          brokers=[(b.name, b.current_workload, b.max_concurrent_chats) for b in brokers],
                          circuits=circuit_states(container),
                          workers=len(beats))  # heartbeats expire: every one read is a live worker


async def scrape(container: Container) -> tuple[bytes, str]:
    await refresh_shared_metrics(container)
    return prometheus.render()
