"""Worker process: consume the queue until SIGTERM/SIGINT, then finish active jobs within a bound.

Jobs still running after the bound stay `active` in Redis; their locks expire and BullMQ's stalled
check moves them back to `wait` for another worker, and the reply ledger keeps the reply single.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from contextlib import suppress

from aibroker.bootstrap import Container, build_container
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job, NewConversationJob
from aibroker.errors import DependencyUnavailable
from aibroker.logging import get_logger
from aibroker.worker.heartbeat import Heartbeat
from aibroker.worker.sweeper import Sweeper

log = get_logger(__name__)

SHUTDOWN_GRACE_S = 20.0
RECONCILE_EVERY_S = 60.0


class JobDispatcher:
    """Routes typed jobs to the use cases and keeps the counters the heartbeat reports."""

    def __init__(self, container: Container, heartbeat: Heartbeat) -> None:
        self._container = container
        self._heartbeat = heartbeat

    async def handle(self, job: Job, attempt: int) -> str:
        state = self._heartbeat.state
        state["active_jobs"] += 1
        try:
            outcome = await self._container.legacy.run(job)  # legacy path / switches; None: aibroker answers
            if outcome is None and isinstance(job, NewConversationJob):
                outcome = await self._container.replies.greet(job)
            elif outcome is None and isinstance(job, IncomingMessageJob):
                outcome = await self._container.replies.answer(job)
            outcome = outcome or "skipped"
            state["processed"] += 1
            log.info("job %s attempt %d: %s", job.job_id, attempt, outcome)
            return outcome
        except DependencyUnavailable as error:  # deferred (the queue delays it, no attempt spent) or failed
            state["deferred" if error.retry_after_s is not None else "failed"] += 1
            raise
        except Exception:
            state["failed"] += 1
            raise
        finally:
            state["active_jobs"] -= 1
            state["replies"] = self._container.reply_metrics.snapshot()  # sources and LLM fallbacks

    async def on_failed(self, job: Job, reason: str, final: bool) -> None:
        log.warning("job %s failed (%s): %s", job.job_id, "final" if final else "will retry", reason[:300])
        if await self._container.legacy.on_failed(job, reason, final):
            return
        if final and isinstance(job, NewConversationJob | IncomingMessageJob):
            try:
                outcome = await self._container.replies.give_up(job, reason)
                log.info("job %s gave up: %s", job.job_id, outcome)
            except Exception as error:  # the job stays in the failed set with its reason either way
                log.error("job %s: apology/handoff failed: %s", job.job_id, error)


async def reconcile_periodically(container: Container, stop: asyncio.Event) -> None:
    """Recompute broker workloads from open assignments and give freed slots to waiting leads."""
    while not stop.is_set():
        try:
            await container.assignment.reconcile()
        except Exception as error:  # the database may be briefly away; try again next round
            log.warning("reconcile failed: %s", type(error).__name__)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RECONCILE_EVERY_S)


async def run_worker(settings: Settings, redis_url: str, stop: asyncio.Event,
                     container: Container | None = None) -> None:
    """Run until `stop` is set. Owns `container` only if it built it."""
    from aibroker.adapters.queue.bullmq_queue import start_worker

    owned = container is None
    container = container or build_container(settings, redis_url)
    heartbeat = Heartbeat(container.redis, settings.queue_prefix, settings.queue_name, uuid.uuid4().hex[:12],
                          settings.worker_concurrency)
    dispatcher = JobDispatcher(container, heartbeat)
    worker = await start_worker(settings, redis_url, dispatcher.handle, on_failed=dispatcher.on_failed)
    beating = asyncio.create_task(heartbeat.run(stop))
    reconciling = asyncio.create_task(reconcile_periodically(container, stop))
    sweeping = asyncio.create_task(Sweeper(container.store, container.queue, container.redis).run(stop))
    sweeping_legacy = asyncio.create_task(container.legacy.sweep_periodically(stop))
    log.info("worker started: queue=%s concurrency=%d", settings.queue_name, settings.worker_concurrency)
    try:
        await stop.wait()
    finally:
        log.info("worker stopping: finishing active jobs (up to %.0f s)", SHUTDOWN_GRACE_S)
        try:
            await asyncio.wait_for(worker.close(), SHUTDOWN_GRACE_S)
        except TimeoutError:
            log.warning("active jobs did not finish in time; they return to the queue when their locks expire")
            with suppress(Exception):
                await worker.close(force=True)
        for task in (beating, reconciling, sweeping, sweeping_legacy):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await heartbeat.clear()
        if owned:
            await container.aclose()
        log.info("worker stopped")


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


async def worker_main(settings: Settings, redis_url: str) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    await run_worker(settings, redis_url, stop)
