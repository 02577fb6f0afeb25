"""Worker process: consume the queue until SIGTERM/SIGINT, then finish active jobs within a bound.

Jobs still running after the bound stay `active` in Redis; their locks expire and BullMQ's stalled
check moves them back to `wait` for another worker, and the reply ledger keeps the reply single.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from aibroker.adapters.db.engine import unavailable as database_unavailable
from aibroker.adapters.metrics import prometheus
from aibroker.bootstrap import Container, build_container
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job, NewConversationJob
from aibroker.errors import ComeBackLater, DependencyUnavailable
from aibroker.logging import get_logger
from aibroker.wiring_ops import build_alert_monitor, refresh_shared_metrics
from aibroker.worker.heartbeat import HEARTBEAT_EVERY_S, Heartbeat
from aibroker.worker.sla_watch import SlaWatch
from aibroker.worker.sweeper import Sweeper

log = get_logger(__name__)

SHUTDOWN_GRACE_S = 20.0
FORCE_CLOSE_S = 5.0  # then the rest of the clean-up, and the process exits whatever is still hanging
IDLE_CLOSE_S = 2.0  # with no job active, how long the worker's close may take before it is forced
CLOSE_POLL_S = 0.1
RECONCILE_EVERY_S = 60.0
METRICS_REFRESH_S = 5.0


class JobDispatcher:
    """Routes typed jobs to the use cases and keeps the counters the heartbeat reports."""

    def __init__(self, container: Container, heartbeat: Heartbeat) -> None:
        self._container = container
        self._heartbeat = heartbeat

    async def handle(self, job: Job, attempt: int) -> str:
        state = self._heartbeat.state
        state["active_jobs"] += 1
        try:
            # The conversation is read once per job, here, for the legacy check and the reply.
            known = await self._container.store.job_conversation(
                job.conversation_id, job.message_id if isinstance(job, IncomingMessageJob) else None) \
                if isinstance(job, NewConversationJob | IncomingMessageJob) else None
            conversation = known.record if known is not None else None
            outcome = await self._container.legacy.run(job, conversation)  # legacy / switches; None: aibroker's
            if outcome is None and isinstance(job, NewConversationJob):
                outcome = await self._container.replies.greet(job, conversation)
            elif outcome is None and isinstance(job, IncomingMessageJob):
                outcome = await self._container.replies.answer(job, known)
            outcome = outcome or "skipped"
            state["processed"] += 1
            prometheus.observe_job(job.name, "completed")
            log.info("job %s attempt %d: %s", job.job_id, attempt, outcome)
            return outcome
        except ComeBackLater:  # a paced reply, back when it is due (the queue delays it, no attempt spent)
            state["paced"] += 1
            raise
        except DependencyUnavailable as error:  # deferred (the queue delays it, no attempt spent) or failed
            self._count_unavailable(job, error)
            raise
        except Exception as error:
            if (lost := database_unavailable(error)) is not None:  # run again at once on fresh connections
                self._count_unavailable(job, lost)
                raise lost from error
            state["failed"] += 1
            prometheus.observe_job(job.name, "failed")
            raise
        finally:
            state["active_jobs"] -= 1
            state["replies"] = self._container.reply_metrics.snapshot()  # sources and LLM fallbacks

    def _count_unavailable(self, job: Job, error: DependencyUnavailable) -> None:
        kind = "deferred" if error.retry_after_s is not None else "failed"
        self._heartbeat.state[kind] += 1
        prometheus.observe_job(job.name, kind)

    async def on_failed(self, job: Job, reason: str, final: bool) -> None:
        log.warning("job %s failed (%s): %s", job.job_id, "final" if final else "will retry", reason[:300])
        if final:
            prometheus.observe_job(job.name, "failed_final")
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


async def refresh_metrics_periodically(container: Container, stop: asyncio.Event) -> None:
    """Keep the shared gauges (queue depth, broker slots, circuits) of this worker's metrics port current."""
    while not stop.is_set():
        try:
            await refresh_shared_metrics(container)
        except Exception as error:  # Redis or the database briefly away: the gauges keep their last values
            log.info("metrics refresh failed: %s", type(error).__name__)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), METRICS_REFRESH_S)


def heartbeat_interval_s(silence_alert_s: float) -> float:
    """Every 5 s, or three times within the heartbeat-silence alert's threshold if that is shorter."""
    return min(HEARTBEAT_EVERY_S, silence_alert_s / 3)


def idle_check_interval_s(idle_minutes: float) -> float:
    """A tenth of the idle time, between 1 s and a minute: a slot comes back at most ~10 % late."""
    return min(60.0, max(1.0, idle_minutes * 6))


async def release_idle_periodically(container: Container, stop: asyncio.Event) -> None:
    """Give back the broker slots of conversations idle for ASSIGNMENT_IDLE_MINUTES. Every worker runs it:
    it is one guarded UPDATE, so concurrent runs free each slot once."""
    idle_for = timedelta(minutes=container.settings.assignment_idle_minutes)
    every_s = idle_check_interval_s(container.settings.assignment_idle_minutes)
    while not stop.is_set():
        try:
            await container.assignment.release_idle(idle_for, datetime.now(UTC))
        except Exception as error:  # the database may be briefly away; try again next round
            log.warning("idle release failed: %s", type(error).__name__)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def run_worker(settings: Settings, redis_url: str, stop: asyncio.Event,
                     container: Container | None = None) -> None:
    """Run until `stop` is set. Owns `container` only if it built it."""
    from aibroker.adapters.queue.bullmq_queue import start_worker

    owned = container is None
    container = container or build_container(settings, redis_url)
    heartbeat = Heartbeat(container.redis, settings.queue_prefix, settings.queue_name, uuid.uuid4().hex[:12],
                          settings.worker_concurrency, every_s=heartbeat_interval_s(settings.alert_worker_silence_s))
    dispatcher = JobDispatcher(container, heartbeat)
    worker = await start_worker(settings, redis_url, dispatcher.handle, on_failed=dispatcher.on_failed)
    beating = asyncio.create_task(heartbeat.run(stop))
    reconciling = asyncio.create_task(reconcile_periodically(container, stop))
    releasing = asyncio.create_task(release_idle_periodically(container, stop))
    sweeping = asyncio.create_task(Sweeper(container.store, container.queue, container.redis).run(stop))
    sweeping_legacy = asyncio.create_task(container.legacy.sweep_periodically(stop))
    sla = SlaWatch(container.store, container.events, container.redis, settings.queue_prefix,
                   target_ms=settings.reply_sla_ms, clock=lambda: datetime.now(UTC))
    background = [beating, reconciling, releasing, sweeping, sweeping_legacy, asyncio.create_task(sla.run(stop))]
    # Under `aibroker dev` the API process already runs the alert loop with this same container.
    if owned and (alerts := build_alert_monitor(container)) is not None:
        background.append(asyncio.create_task(alerts.run(stop)))
    if settings.worker_metrics_port is not None:
        metrics_server = prometheus.serve(settings.worker_metrics_port, settings.host)
        background.append(asyncio.create_task(refresh_metrics_periodically(container, stop)))
        log.info("worker metrics on http://%s:%d/metrics", settings.host, settings.worker_metrics_port)
    log.info("worker started: queue=%s concurrency=%d", settings.queue_name, settings.worker_concurrency)
    try:
        await stop.wait()
    finally:
        log.info("worker stopping: finishing active jobs (up to %.0f s)", SHUTDOWN_GRACE_S)
        closed = await close_within(worker.close(), SHUTDOWN_GRACE_S, idle=lambda: heartbeat.state["active_jobs"] == 0)
        if closed is False:
            log.warning("active jobs did not finish in time; they return to the queue when their locks expire")
        if not closed:
            await within(worker.close(force=True), FORCE_CLOSE_S)
        for task in background:
            task.cancel()
            await within(task, FORCE_CLOSE_S)
        await within(heartbeat.clear(), FORCE_CLOSE_S)
        if settings.worker_metrics_port is not None:
            metrics_server.shutdown()
        if owned:
            await within(container.aclose(), FORCE_CLOSE_S)
        log.info("worker stopped")


async def close_within(closing: Awaitable[object], seconds: float, *, idle: Callable[[], bool]) -> bool | None:
    """Wait for the worker's close for up to `seconds` while jobs are active. True: closed; False: jobs were still
    active at the end; None: no job was active for `IDLE_CLOSE_S` but the close still hung (bullmq's close waits
    for an unreachable Redis): nothing is left to finish, so the grace is not waited out."""
    task = asyncio.ensure_future(closing)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    idle_since: float | None = None
    while loop.time() < deadline:
        done, _ = await asyncio.wait({task}, timeout=min(CLOSE_POLL_S, max(0.0, deadline - loop.time())))
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.info("shutdown step failed: %s", type(task.exception()).__name__)
            return True
        now = loop.time()
        idle_since = (idle_since or now) if idle() else None
        if idle_since is not None and now - idle_since >= IDLE_CLOSE_S:
            task.cancel()
            log.info("no job is active; not waiting for the queue's connection to close")
            return None
    task.cancel()
    return False


async def within(work: Awaitable[object], seconds: float) -> bool:
    """Wait for `work` at most `seconds`; False if it is still running (it is left to itself). Not wait_for: that
    waits for the cancelled work to end, and bullmq's Worker.close() shields itself from cancellation while Redis
    is unreachable (a SIGTERMed worker hung for minutes), as can a redis-py command."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        return False
    if not task.cancelled() and task.exception() is not None:
        log.info("shutdown step failed: %s", type(task.exception()).__name__)
    return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (uvicorn[standard] brings it, and the API runs on it already), else
    asyncio's. On the reply path asyncio's own loop was a sixth of the worker's CPU (`bench.replypath`)."""
    try:
        import uvloop
    except ImportError:  # (not built for Windows)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run(main)` on `new_event_loop()`, except that tasks still pending afterwards get `FORCE_CLOSE_S`,
    not forever: a worker told to stop must exit even while Redis is unreachable."""
    loop = new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=FORCE_CLOSE_S))
        for closing in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
            loop.run_until_complete(asyncio.wait({loop.create_task(closing)}, timeout=FORCE_CLOSE_S))
        loop.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


async def worker_main(settings: Settings, redis_url: str) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    await run_worker(settings, redis_url, stop)
