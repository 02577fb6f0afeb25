"""Operator controls on a real BullMQ queue: pause keeps jobs, resume runs them, drain, failed-job retry/remove."""

from __future__ import annotations

import pytest

from aibroker.adapters.queue.bullmq_queue import BullJobQueue, start_worker
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job, NewConversationJob
from aibroker.errors import NotFound
from tests.support.servers import until


def _settings(redis_prefix: str) -> Settings:
    return Settings(_env_file=None, QUEUE_PREFIX=redis_prefix, JOB_ATTEMPTS=1,  # type: ignore[call-arg]
                    STALLED_INTERVAL_MS=1000, LOCK_DURATION_MS=3000)


async def test_pause_keeps_jobs_drain_removes_them_and_failed_jobs_are_retried_or_removed(
        redis_url: str, redis_prefix: str) -> None:
    settings = _settings(redis_prefix)
    queue = BullJobQueue(settings, redis_url)
    ran: list[str] = []
    failing = {"incoming-message-1-bad", "incoming-message-1-gone"}

    async def handler(job: Job, attempt: int) -> str:
        if job.job_id in failing:
            raise RuntimeError("inbox said no")
        ran.append(job.job_id)
        return "done"

    worker = await start_worker(settings, redis_url, handler)
    try:
        await queue.pause()
        assert await queue.is_paused() is True
        kept = NewConversationJob(conversation_id=1)
        assert await queue.enqueue(kept) is True  # a paused queue still accepts…
        counts = await queue.counts()
        assert counts["paused"] + counts["waiting"] == 1 and counts["completed"] == 0  # …and keeps it
        await queue.resume()
        await until(lambda: kept.job_id in ran)
        assert await queue.is_paused() is False

        await queue.pause()
        for n in range(3):
            await queue.enqueue(NewConversationJob(conversation_id=10 + n))
        assert await queue.drain() == 3
        counts = await queue.counts()
        assert counts["paused"] + counts["waiting"] == 0
        await queue.resume()

        for message in ("bad", "gone"):
            await queue.enqueue(IncomingMessageJob(conversation_id=1, message_id=message))
        await until(lambda: _count_failed(queue, 2))
        assert {(j["id"], j["reason"]) for j in await queue.failed_jobs()} == {
            ("incoming-message-1-bad", "inbox said no"), ("incoming-message-1-gone", "inbox said no")}

        failing.discard("incoming-message-1-bad")  # the inbox is back for this one
        await queue.retry_failed("incoming-message-1-bad")
        await until(lambda: "incoming-message-1-bad" in ran)
        await queue.remove_failed("incoming-message-1-gone")
        assert await queue.failed_jobs() == []
        with pytest.raises(NotFound):
            await queue.retry_failed("incoming-message-1-gone")
        with pytest.raises(NotFound):
            await queue.remove_failed("incoming-message-1-bad")  # it completed: not a failed job

        failing.add("incoming-message-2-x")
        await queue.enqueue(IncomingMessageJob(conversation_id=2, message_id="x"))
        await until(lambda: _count_failed(queue, 1))
        failing.clear()
        assert await queue.retry_all_failed() == 1
        await until(lambda: "incoming-message-2-x" in ran)
        assert ran.count("incoming-message-1-bad") == 1 and ran.count(kept.job_id) == 1
    finally:
        await worker.close()
        await queue.aclose()



async def _count_failed(queue: BullJobQueue, n: int) -> bool:
    return len(await queue.failed_jobs()) == n
