"""Alert conditions and their start/end bookkeeping on real Redis, told to a fake Slack server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from aibroker.adapters.notify.slack import SlackWebhook
from aibroker.adapters.queue.alert_state import RedisAlertState
from aibroker.domain.alerts import Figures, Thresholds, conditions
from aibroker.usecases.alerts import AlertMonitor
from tests.fakes.fake_slack import running_fake_slack
from tests.support.servers import until

THRESHOLDS = Thresholds(sla_ms=5000, worker_silence_s=30, human_response_minutes=10)


def _active(figures: Figures) -> set[str]:
    return {c.name for c in conditions(figures, THRESHOLDS) if c.active}


def test_each_condition_at_its_threshold() -> None:
    assert _active(Figures()) == set()
    assert _active(Figures(failure_rate=0.0199, reply_p95_ms=5000, waiting_jobs=20, heartbeat_silence_s=29.9,
                           longest_human_wait_s=600)) == set()
    assert _active(Figures(failure_rate=0.02, reply_p95_ms=5001, waiting_jobs=21, heartbeat_silence_s=30,
                           open_circuits=frozenset({"chatwoot", "llm"}), humans_awaited=1,
                           longest_human_wait_s=601)) == {
        "failure_rate", "reply_p95", "queue_backlog", "worker_heartbeat", "circuit_chatwoot", "circuit_llm",
        "human_response"}


async def test_a_backlog_alerts_after_five_minutes_once_and_ends_once(redis_url: str, redis_prefix: str) -> None:
    now = [1000.0]
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        with running_fake_slack() as slack:
            def monitor() -> AlertMonitor:  # two processes' monitors, sharing Redis
                return AlertMonitor(_no_figures, RedisAlertState(redis, redis_prefix), [SlackWebhook(slack.slack_url)],
                                    THRESHOLDS, link="http://ops/console/ops", every_s=10, clock=lambda: now[0])

            first, second = monitor(), monitor()
            backlog = Figures(waiting_jobs=25)
            assert await first.judge(backlog) == []  # active, but not yet for 5 minutes
            now[0] += 299
            assert await second.judge(backlog) == []
            now[0] += 2
            started = await first.judge(backlog) + await second.judge(backlog)
            assert len(started) == 1 and "More than 20 jobs waiting for 5 min: 25 jobs waiting" in started[0]
            now[0] += 60
            assert await second.judge(backlog) == []
            ended = await second.judge(Figures(waiting_jobs=3)) + await first.judge(Figures(waiting_jobs=3))
            assert len(ended) == 1 and "Resolved" in ended[0]
            assert slack.texts() == [*started, *ended]
    finally:
        await redis.aclose()


async def _no_figures() -> Figures:
    return Figures()


async def test_a_slow_rounds_older_figures_are_not_judged_after_a_later_rounds(redis_url: str,
                                                                             redis_prefix: str) -> None:
    """A round's claim expires with the round, so on a starved machine a slow round may finish after a later one.
    Its figures, read earlier, must not undo the later verdict: here they would start an alert that the newer
    figures say is over (in CI it was the reverse: an alert ended by stale figures, then started again). Newer
    figures are judged as ever."""
    every_s = 0.05
    reading, release = asyncio.Event(), asyncio.Event()
    waits_long = Figures(humans_awaited=1, longest_human_wait_s=THRESHOLDS.human_response_minutes * 60 + 1)
    quick_reads: list[float] = []

    async def slow_read() -> Figures:  # read first, returned last
        reading.set()
        await release.wait()
        return waits_long

    async def quick_read() -> Figures:
        quick_reads.append(time.time())
        return Figures()

    async def waits_long_now() -> Figures:
        return waits_long

    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        def monitor(read: Any) -> AlertMonitor:
            return AlertMonitor(read, RedisAlertState(redis, redis_prefix), [], THRESHOLDS,
                                link="http://ops/console/ops", every_s=every_s, clock=time.time)

        slow, quick, later = monitor(slow_read), monitor(quick_read), monitor(waits_long_now)
        slow_round = asyncio.ensure_future(slow.check())
        await until(reading.is_set, what="the slow round reading its figures")

        async def quick_round_judged() -> bool:
            assert await quick.check() == []  # (nothing is wrong in its figures)
            return bool(quick_reads)

        await until(quick_round_judged, what="a later round, once the slow one's claim expired")
        release.set()
        assert await slow_round == []  # its older figures are not judged: no alert

        async def started() -> list[str]:
            return await later.check()

        alert = await until(started, what="newer figures judged")
        assert len(alert) == 1 and "waits for a human" in alert[0]
    finally:
        await redis.aclose()
