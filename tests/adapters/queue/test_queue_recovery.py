"""Failure paths of the queue adapter and the conversation lock that the chaos test (tests/chaos) exposed:
each would have lost a customer message for good."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from bullmq import UnrecoverableError

from aibroker.adapters.queue.bullmq_queue import BullJobQueue, JobHandler, start_worker
from aibroker.adapters.queue.conversation_lock import ConversationLockLost, RedisConversationLocks
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job
from aibroker.errors import TransientInboxError
from tests.support.servers import until


def _settings(redis_prefix: str, **env: object) -> Settings:
    return Settings(_env_file=None, QUEUE_PREFIX=redis_prefix, JOB_BACKOFF_MS=50,  # type: ignore[call-arg]
                    STALLED_INTERVAL_MS=1000, LOCK_DURATION_MS=3000, **env)


@asynccontextmanager
async def _queue_and_worker(settings: Settings, redis_url: str, handler: JobHandler
                            ) -> AsyncIterator[tuple[BullJobQueue, list[tuple[str, bool]]]]:
    """A queue and a worker running `handler`; the list collects (reason, final) for every failed attempt."""
    failures: list[tuple[str, bool]] = []

    async def on_failed(job: Job, reason: str, final: bool) -> None:
        failures.append((reason, final))

    queue = BullJobQueue(settings, redis_url)
    worker = await start_worker(settings, redis_url, handler, on_failed=on_failed)
    try:
        yield queue, failures
    finally:
        await worker.close()
        await queue.aclose()


async def test_a_job_that_failed_for_good_runs_again_when_queued_again(redis_url: str, redis_prefix: str) -> None:
    """The sweeper re-queues outstanding work by job id; a failed job with that id must not block it."""
    settings = _settings(redis_prefix, JOB_ATTEMPTS=2)
    attempts: list[int] = []
    answered = asyncio.Event()

    async def handler(job: Job, attempt: int) -> str:
        attempts.append(attempt)
        if len(attempts) <= 2:
            raise RuntimeError("inbox down")
        answered.set()
        return "answered"

    job = IncomingMessageJob(conversation_id=1, message_id="5")
    async with _queue_and_worker(settings, redis_url, handler) as (queue, failures):
        assert await queue.enqueue(job) is True
        await until(lambda: len(failures) >= 2, timeout_s=10)
        assert [final for _, final in failures] == [False, True]
        assert [f["id"] for f in await queue.failed_jobs()] == [job.job_id]
        assert await queue.enqueue(job) is True  # replaced, with fresh attempts
        await asyncio.wait_for(answered.wait(), 15)
        assert attempts == [1, 2, 1]
        assert await queue.failed_jobs() == []
        assert await queue.enqueue(job) is False  # completed: a duplicate again


async def test_the_sweeper_can_queue_a_completed_job_again(redis_url: str, redis_prefix: str) -> None:
    """A completed job whose message the reply ledger still shows unanswered must not block its id: only the
    sweeper (which reads the ledger) replaces it, and only if the ledger, asked again after the job was seen
    completed, still says so; anyone else adding it gets a duplicate."""
    settings = _settings(redis_prefix)
    runs: list[int] = []

    async def handler(job: Job, attempt: int) -> str:
        runs.append(attempt)
        return "ran"

    job = IncomingMessageJob(conversation_id=1, message_id="6")
    async with _queue_and_worker(settings, redis_url, handler) as (queue, _):
        assert await queue.enqueue(job) is True
        for _ in range(300):  # until BullMQ has moved it to the completed set
            if (await queue.counts())["completed"] == 1:
                break
            await asyncio.sleep(0.05)
        assert runs == [1] and await queue.enqueue(job) is False
        asked: list[bool] = []

        def ledger_says(unanswered: bool) -> Callable[[], Awaitable[bool]]:
            async def unfinished() -> bool:
                asked.append(unanswered)
                return unanswered
            return unfinished

        assert await queue.enqueue(job, unfinished=ledger_says(False)) is False  # it answered after all
        assert await queue.enqueue(job, unfinished=ledger_says(True)) is True
        assert asked == [False, True]
        await until(lambda: len(runs) == 2)
        assert runs == [1, 1]


async def test_unrecoverable_failures_are_final_whatever_the_attempts(redis_url: str, redis_prefix: str) -> None:
    """BullMQ fails a job that stalled too often with UnrecoverableError, attempts left or not: that is the
    final failure, and the apology-and-handoff hook must hear so."""
    settings = _settings(redis_prefix, JOB_ATTEMPTS=5)

    async def handler(job: Job, attempt: int) -> None:
        raise UnrecoverableError("job stalled more than allowable limit")

    async with _queue_and_worker(settings, redis_url, handler) as (queue, failures):
        await queue.enqueue(IncomingMessageJob(conversation_id=1, message_id="6"))
        await until(lambda: failures)
        await asyncio.sleep(0.3)
        assert failures == [("job stalled more than allowable limit", True)]


async def test_a_dependency_retry_after_delays_the_job_without_spending_an_attempt(
        redis_url: str, redis_prefix: str) -> None:
    """An open circuit (or a 429 with a long Retry-After) must not use up the job's attempts in a few seconds."""
    settings = _settings(redis_prefix, JOB_ATTEMPTS=2)
    attempts: list[int] = []
    answered = asyncio.Event()

    async def handler(job: Job, attempt: int) -> str:
        attempts.append(attempt)
        if len(attempts) <= 3:
            raise TransientInboxError("chatwoot circuit open", retry_after_s=0.2)
        answered.set()
        return "answered"

    async with _queue_and_worker(settings, redis_url, handler) as (queue, failures):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await queue.enqueue(IncomingMessageJob(conversation_id=1, message_id="7"))
        await asyncio.wait_for(answered.wait(), 15)
        assert attempts == [1, 1, 1, 1] and failures == []
        assert loop.time() - started >= 0.6  # it did wait as told, three times


async def test_leaving_a_conversation_lock_never_waits_on_its_keep_alive(redis_url: str, redis_prefix: str) -> None:
    """Cancelling a task inside a redis-py command can be swallowed; the keep-alive must stop by itself, or the
    holder hangs on leaving while the lock is extended forever."""
    client = redis_client(redis_url)
    locks = RedisConversationLocks(client, redis_prefix, lease_s=0.006, wait_s=5)  # extends every 2 ms
    rng = random.Random(1)

    async def hold_many() -> None:
        for conversation_id in range(150):
            async with locks.hold(conversation_id):
                await asyncio.sleep(rng.uniform(0, 0.004))

    try:
        holding = asyncio.create_task(hold_many())
        done, _ = await asyncio.wait({holding}, timeout=20)  # not a timeout that cancels: that could hang too
        assert done, "leaving a conversation lock hung"
        holding.result()
        await asyncio.sleep(0.05)
        assert [key async for key in client.scan_iter(match=f"{redis_prefix}:aibroker:lock:*")] == []
    finally:
        await client.aclose()


async def test_confirm_fails_once_the_lock_was_lost_while_held(redis_url: str, redis_prefix: str) -> None:
    """A Redis restart wipes the lock while its job runs on: the job must not send (another may answer)."""
    client = redis_client(redis_url)
    locks = RedisConversationLocks(client, redis_prefix, lease_s=3, wait_s=1)
    key = f"{redis_prefix}:aibroker:lock:conversation:9"
    try:
        async with locks.hold(9):
            await locks.confirm(9)
            await client.delete(key)  # what a restart without persistence does
            with pytest.raises(ConversationLockLost):
                await locks.confirm(9)
            async with locks.hold(9):  # nested holds are per conversation; another worker could take it now
                await locks.confirm(9)
        async with locks.hold(9):
            await client.set(key, "someone-else")
            with pytest.raises(ConversationLockLost):
                await locks.confirm(9)
        with pytest.raises(RuntimeError):
            await locks.confirm(9)  # only inside hold()
    finally:
        await client.aclose()


async def test_a_job_on_a_busy_conversation_steps_out_of_the_active_set_until_it_is_free(
        redis_url: str, redis_prefix: str) -> None:
    """A job that finds its conversation busy for longer than `wait_s` is delayed, not left active (where each
    crash of its worker would count as a stall) and not charged an attempt; it runs once the conversation is
    free, whoever held it."""
    settings = _settings(redis_prefix, JOB_ATTEMPTS=1)  # a single attempt: a charged retry would fail the job
    client = redis_client(redis_url)
    locks = RedisConversationLocks(client, redis_prefix, lease_s=3, wait_s=0.2, retry_after_s=0.1)
    runs: list[int] = []
    answered = asyncio.Event()

    async def handler(job: Job, attempt: int) -> str:
        runs.append(attempt)
        async with locks.hold(job.conversation_id):
            answered.set()
            return "answered"

    try:
        async with _queue_and_worker(settings, redis_url, handler) as (queue, failures):
            async with locks.hold(4):  # another job is answering conversation 4 for a while
                await queue.enqueue(IncomingMessageJob(conversation_id=4, message_id="8"))
                seen: set[str] = set()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 2.0
                while loop.time() < deadline:
                    counts = await queue.counts()
                    seen.update(state for state in ("active", "delayed") if counts[state])
                    await asyncio.sleep(0.02)
                assert not answered.is_set() and len(runs) >= 3  # it kept coming back ...
                assert "delayed" in seen  # ... and waited outside the active set in between
            await asyncio.wait_for(answered.wait(), 10)
            assert set(runs) == {1} and failures == []  # never charged an attempt, never failed
    finally:
        await client.aclose()
