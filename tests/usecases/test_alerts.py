"""Alert conditions and their start/end bookkeeping on real Redis, told to a fake Slack server."""

from __future__ import annotations

import redis.asyncio as aioredis

from aibroker.adapters.notify.slack import SlackWebhook
from aibroker.adapters.queue.alert_state import RedisAlertState
from aibroker.domain.alerts import Figures, Thresholds, conditions
from aibroker.usecases.alerts import AlertMonitor
from tests.fakes.fake_slack import running_fake_slack

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
