"""Composition of the operating parts (issue #13): analytics, metrics, alerts. Kept beside `bootstrap.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aibroker.adapters.db.analytics import SqlAnalytics, humans_awaited, recent_replies
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.metrics import prometheus
from aibroker.adapters.notify.slack import JsonWebhook, SlackWebhook
from aibroker.adapters.queue.alert_state import RedisAlertState
from aibroker.domain.alerts import RECENT, Figures, Thresholds
from aibroker.domain.analytics import share
from aibroker.domain.ports import Notifier
from aibroker.usecases.alerts import AlertMonitor
from aibroker.worker.heartbeat import read_heartbeats

if TYPE_CHECKING:
    from aibroker.bootstrap import Container


LLM_FALLBACKS_SIGNAL = 3
HUMAN_WAIT_HORIZON = timedelta(days=7)  # older handoffs still unanswered are a backlog for people, not an alert


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


def build_alert_monitor(container: Container) -> AlertMonitor | None:
    """The alert loop for this process; None when no destination is configured (nothing to tell anyone)."""
    settings = container.settings
    notifiers: list[Notifier] = [*([SlackWebhook(settings.slack_webhook_url)] if settings.slack_webhook_url else []),
                                 *([JsonWebhook(settings.alert_webhook_url)] if settings.alert_webhook_url else [])]
    if not notifiers:
        return None
    state = RedisAlertState(container.redis, settings.queue_prefix)
    thresholds = Thresholds(sla_ms=settings.reply_sla_ms, worker_silence_s=settings.alert_worker_silence_s,
                            human_response_minutes=settings.human_response_alert_minutes)
    return AlertMonitor(lambda: read_figures(container, state), state, notifiers, thresholds,
                        link=settings.ops_page_url, every_s=settings.alert_check_interval_s, clock=time.time,
                        local_signals=LocalSignals(container))


class LocalSignals:
    """What only this process sees: its Chatwoot breaker open, or its LLM calls falling back to the offline
    responder (LLM_FALLBACKS_SIGNAL or more since the last round: the LLM is failing, not one slow answer)."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._fallbacks = container.reply_metrics.total_fallbacks

    def __call__(self) -> set[str]:
        signals = {name for name, is_open in circuit_states(self._container).items() if is_open}
        fallbacks = self._container.reply_metrics.total_fallbacks
        if fallbacks - self._fallbacks >= LLM_FALLBACKS_SIGNAL:
            signals.add("llm")
        self._fallbacks = fallbacks
        return signals


async def read_figures(container: Container, state: RedisAlertState) -> Figures:
    settings = container.settings
    now = datetime.now(UTC)
    latency, finished, failed = await recent_replies(container.store.sessions, since=now - RECENT, now=now,
                                                     sla_ms=settings.reply_sla_ms)
    counts = await container.queue.counts()
    beats = await read_heartbeats(container.redis, settings.queue_prefix, settings.queue_name)
    newest = max((float(b["last_heartbeat"]) for b in beats if "last_heartbeat" in b), default=None)
    humans = await humans_awaited(container.store.sessions, since=now - HUMAN_WAIT_HORIZON, now=now)
    return Figures(failure_rate=share(failed, finished), failed_jobs=failed, reply_p95_ms=latency.p95_ms,
                   replies=latency.count,
                   waiting_jobs=sum(counts.get(state_name, 0) for state_name in ("waiting", "prioritized", "paused")),
                   heartbeat_silence_s=await state.heartbeat_silence(newest, time.time()),
                   open_circuits=frozenset(await state.signals()), humans_awaited=humans.still_waiting,
                   longest_human_wait_s=None if humans.longest_waiting_ms is None else humans.longest_waiting_ms / 1000)
