"""The queue adapter's guard rails (ARCHITECTURE §3), each with a test that would catch a regression."""

from __future__ import annotations

import asyncio
import time

import pytest

from aibroker.adapters.queue.bullmq_queue import BullJobQueue, parse_job, start_worker
from aibroker.adapters.queue.embedded_redis import EmbeddedRedis
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job, NewConversationJob
from aibroker.errors import DependencyUnavailable
from tests.support.servers import free_port


def _settings(redis_prefix: str, **env: object) -> Settings:
    return Settings(_env_file=None, QUEUE_PREFIX=redis_prefix, JOB_BACKOFF_MS=50,  # type: ignore[call-arg]
                    STALLED_INTERVAL_MS=1000, LOCK_DURATION_MS=3000, **env)


def test_connection_options_never_time_out_blocking_reads() -> None:
    options = connection_options("redis://:p%40ss@10.0.0.5:6380/2")
    assert options["socket_timeout"] is None  # redis-py 8 would otherwise cut BZPOPMIN at 5 s
    assert (options["host"], options["port"], options["db"], options["password"]) == ("10.0.0.5", 6380, 2, "p@ss")
    assert connection_options("rediss://h")["ssl"] is True


def test_job_ids_are_deterministic_and_colon_free() -> None:
    assert NewConversationJob(conversation_id=7).job_id == "new-conversation-7"
    assert IncomingMessageJob(conversation_id=7, message_id="99").job_id == "incoming-message-7-99"
    assert parse_job("incoming-message", {"conversation_id": 7, "message_id": "99"}) == IncomingMessageJob(
        conversation_id=7, message_id="99")
    with pytest.raises(ValueError, match="unknown job name"):
        parse_job("mystery", {})


async def test_duplicate_job_ids_are_reported_and_not_added(redis_url: str, redis_prefix: str) -> None:
    queue = BullJobQueue(_settings(redis_prefix), redis_url)
    try:
        job = NewConversationJob(conversation_id=1, lead_score=80)
        assert await queue.enqueue(job, priority=1) is True
        assert await queue.enqueue(job, priority=1) is False
        counts = await queue.counts()
        assert counts["prioritized"] + counts["waiting"] == 1
    finally:
        await queue.aclose()


async def test_enqueue_fails_fast_with_503_reason_when_redis_is_unreachable(redis_prefix: str) -> None:
    queue = BullJobQueue(_settings(redis_prefix, ENQUEUE_TIMEOUT_S=1.0), f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable) as caught:
        await queue.enqueue(NewConversationJob(conversation_id=1))
    assert caught.value.part == "redis"
    assert time.monotonic() - started < 10  # bounded, not the client's minutes of retries


async def test_worker_reads_redis_version_runs_jobs_retries_and_reports_final_failure(
        redis_url: str, redis_prefix: str) -> None:
    settings = _settings(redis_prefix, JOB_ATTEMPTS=3)
    seen: list[tuple[str, int]] = []
    failures: list[tuple[str, bool]] = []
    done = asyncio.Event()

    async def handler(job: Job, attempt: int) -> str:
        seen.append((job.job_id, attempt))
        if isinstance(job, IncomingMessageJob):
            raise RuntimeError("inbox down")
        return "ok"

    async def on_failed(job: Job, reason: str, final: bool) -> None:
        failures.append((reason, final))
        if final:
            done.set()

    queue = BullJobQueue(settings, redis_url)
    worker = await start_worker(settings, redis_url, handler, on_failed=on_failed)
    try:
        assert worker.redisConnection is not None and worker.redisConnection.version  # read before run()
        await queue.enqueue(NewConversationJob(conversation_id=1))
        await queue.enqueue(IncomingMessageJob(conversation_id=1, message_id="5"))
        await asyncio.wait_for(done.wait(), 30)
        assert ("new-conversation-1", 1) in seen
        assert [a for j, a in seen if j == "incoming-message-1-5"] == [1, 2, 3]
        assert failures == [("inbox down", False), ("inbox down", False), ("inbox down", True)]
        failed = await queue.failed_jobs()
        assert [(f["id"], f["reason"]) for f in failed] == [("incoming-message-1-5", "inbox down")]
    finally:
        await worker.close()
        await queue.aclose()


async def test_embedded_redis_runs_bullmq_scripts(tmp_path, redis_prefix: str) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(redis_prefix)
    processed = asyncio.Event()

    async def handler(job: Job, attempt: int) -> None:
        processed.set()

    with EmbeddedRedis(tmp_path / "redis") as url:
        queue = BullJobQueue(settings, url)
        worker = await start_worker(settings, url, handler)
        try:
            await queue.enqueue(NewConversationJob(conversation_id=3), delay_ms=100)
            await asyncio.wait_for(processed.wait(), 15)
        finally:
            await worker.close()
            await queue.aclose()
