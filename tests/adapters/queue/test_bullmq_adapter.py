"""The queue adapter's guard rails (ARCHITECTURE §3), each with a test that would catch a regression."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from aibroker.adapters.queue.bullmq_queue import BullJobQueue, parse_job, start_worker
from aibroker.adapters.queue.embedded_redis import EmbeddedRedis
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job, NewConversationJob
from aibroker.errors import DependencyUnavailable
from tests.support.chaos_processes import PrivateRedis
from tests.support.servers import free_port, until


def _settings(redis_prefix: str, **env: object) -> Settings:
    env = {"STALLED_INTERVAL_MS": 1000, "LOCK_DURATION_MS": 3000, **env}
    return Settings(_env_file=None, QUEUE_PREFIX=redis_prefix, JOB_BACKOFF_MS=50, **env)  # type: ignore[call-arg]


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


async def test_a_job_reaching_an_idle_worker_costs_a_few_scripts_not_one_per_slot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bullmq's Python run loop starts a fetcher per free slot before any runs: at concurrency 100 every job that
    woke an idle worker set off ~99 `moveToActive` scripts finding nothing (about half the worker's CPU per reply at
    low rates). Ours has one fetch out at a time, as BullMQ for Node does.
    Counted by a private Redis's command statistics, around one job, from an idle worker to an idle worker."""
    redis = PrivateRedis(tmp_path).start()
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    settings = _settings("q", WORKER_CONCURRENCY=100, STALLED_INTERVAL_MS=300_000, LOCK_DURATION_MS=600_000)
    handled: list[str] = []

    async def handler(job: Job, attempt: int) -> None:
        handled.append(job.job_id)

    async def worker_blocked() -> bool:  # its blocking connection waits in BZPOPMIN for the next job
        return any(c["cmd"] == "bzpopmin" and "b" in c["flags"] for c in await client.client_list())

    async def completed() -> bool:
        return (await queue.counts())["completed"] == 1

    async def scripts() -> int:
        stats = await client.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))

    queue = BullJobQueue(settings, redis.url)
    worker = await start_worker(settings, redis.url, handler)
    try:
        await until(worker_blocked, timeout_s=30, what="the worker to block on an empty queue")
        await client.config_resetstat()
        await queue.enqueue(IncomingMessageJob(conversation_id=1, message_id="1"))
        await until(completed, timeout_s=30, what="the job to complete")
        await until(worker_blocked, timeout_s=30, what="the worker to block again")
        assert handled == ["incoming-message-1-1"]
        # The queue's add (with its checks of the job's id), the fetch, one fetch finding the queue empty, the
        # finish: about ten, whatever the concurrency (bullmq's own loop ran 240 here).
        assert await scripts() <= 12
    finally:
        await worker.close()
        await queue.aclose()
        await client.aclose()
        redis.stop()


async def test_a_backlog_fills_every_free_slot(redis_url: str, redis_prefix: str) -> None:
    """The other side of one fetch at a time: when the queue holds jobs, the free slots take them all, each running
    beside the others (here 20 handlers must be running at once before any may finish)."""
    settings = _settings(redis_prefix, WORKER_CONCURRENCY=100)
    running: set[str] = set()
    all_running = asyncio.Event()

    async def handler(job: Job, attempt: int) -> None:
        running.add(job.job_id)
        if len(running) == 20:
            all_running.set()
        await all_running.wait()

    queue = BullJobQueue(settings, redis_url)
    for number in range(20):
        await queue.enqueue(IncomingMessageJob(conversation_id=number, message_id="1"))
    worker = await start_worker(settings, redis_url, handler)
    try:
        await asyncio.wait_for(all_running.wait(), 30)
        assert len(running) == 20
    finally:
        await worker.close()
        await queue.aclose()


async def test_a_job_costs_a_few_tasks_whatever_the_concurrency(redis_url: str, redis_prefix: str) -> None:
    """bullmq's own loop started a fetcher task for every free slot at each wake-up and waited over all of them, so
    each job reaching a worker at concurrency 100 cost ~100 tasks and turns that cost in proportion to the slots (a
    third of a reply's CPU; bench/README.md, `bench.queue`). Ours keeps one fetch out at a time. Counted by the event
    loop's task factory (every task the worker and redis-py create) around 20 jobs, each reaching an idle worker."""
    settings = _settings(redis_prefix, WORKER_CONCURRENCY=100)
    handled: list[str] = []

    async def handler(job: Job, attempt: int) -> None:
        handled.append(job.job_id)

    loop = asyncio.get_running_loop()
    created = 0

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    queue = BullJobQueue(settings, redis_url)
    worker = await start_worker(settings, redis_url, handler)
    previous = loop.get_task_factory()
    try:
        await until(lambda: worker.waiting is not None, timeout_s=30, what="the worker to block on the empty queue")
        loop.set_task_factory(counting_factory)
        for number in range(20):
            await queue.enqueue(IncomingMessageJob(conversation_id=number, message_id="1"))
            await until(lambda n=number: len(handled) == n + 1 and worker.waiting is not None, timeout_s=30,
                        what=f"job {number} done and the worker blocked again")
        assert created / 20 <= 10, f"{created} tasks for 20 jobs"
    finally:
        loop.set_task_factory(previous)
        await worker.close()
        await queue.aclose()
