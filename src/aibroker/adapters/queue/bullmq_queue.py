"""The only module that imports bullmq. Every Queue and Worker is built here, with the guard rails of
ARCHITECTURE §3 applied once (socket timeouts, autorun, Redis version read before running, tuned
stalled-job recovery, JSON payloads, our own enqueue timeout).

Two rules keep "accepted is never lost" true when jobs fail:
- enqueueing a job whose id sits in the failed set replaces it: callers only queue outstanding work (the
  sweeper, a redelivered webhook), so a job that ran out of attempts, or that BullMQ failed after repeated
  stalls, runs again instead of blocking its id for the failed set's 7 days; the sweeper, which reads from the
  reply ledger that a message is still unanswered, replaces a completed job as well (its run ended without
  settling the message, e.g. it found the claim held by a burst whose attempt died afterwards), after asking
  the ledger again: its first read may predate a job that completed since (common with a backlog);
- a dependency that says when to come back (`retry_after_s`: Chatwoot's 429 Retry-After, its open circuit, a
  conversation another job is answering) delays the job that long without spending an attempt, so an outage
  cannot use up every attempt in seconds.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from bullmq import DelayedError, Queue, UnrecoverableError, Worker
from bullmq import Job as BullJob
from bullmq.timer import Timer
from bullmq.utils import extract_result
from redis.exceptions import RedisError

from aibroker.adapters.queue.redis_budget import bounded
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings
from aibroker.domain.jobs import JOB_TYPES, Job
from aibroker.errors import ComeBackLater, DependencyUnavailable, InvalidRequest, NotFound
from aibroker.logging import get_logger

log = get_logger(__name__)

# FACTS §S: keep completed jobs 24 h / 1000, failed jobs 7 days.
KEEP_COMPLETED = {"age": 24 * 3600, "count": 1000}
KEEP_FAILED = {"age": 7 * 24 * 3600}
MAX_DEPENDENCY_DELAY_S = 60.0  # the longest we delay a job on a dependency's say-so before looking again
STARTUP_TIMEOUT_S = 15.0  # reading the Redis version when a worker starts

# Strong references to fire-and-forget tasks: the event loop only keeps weak ones, and a task that is
# garbage-collected mid-way would silently drop a failure hook or the worker loop itself.
_BACKGROUND: set[asyncio.Future[Any]] = set()


def _keep(future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    _BACKGROUND.add(future)
    future.add_done_callback(_BACKGROUND.discard)
    return future


T = TypeVar("T")
JobHandler = Callable[[Job, int], Awaitable[Any]]
"""Called with the typed job payload and the attempt number (1-based)."""


class BullJobQueue:
    """`JobQueue` port over a bullmq Queue."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self._settings = settings
        self._queue = Queue(settings.queue_name, {"connection": connection_options(redis_url),
                                                   "prefix": settings.queue_prefix})

    def options(self, job: Job, *, delay_ms: int = 0, priority: int = 0) -> dict[str, Any]:
        """BullMQ's options for adding `job` (its id, retries, retention, delay and priority)."""
        opts: dict[str, Any] = {
            "jobId": job.job_id,
            "attempts": self._settings.job_attempts,
            "backoff": {"type": "exponential", "delay": self._settings.job_backoff_ms},
            "removeOnComplete": KEEP_COMPLETED,
            "removeOnFail": KEEP_FAILED,
        }
        if delay_ms > 0:
            opts["delay"] = delay_ms
        if priority > 0:
            opts["priority"] = priority
        return opts

    async def enqueue(self, job: Job, *, delay_ms: int = 0, priority: int = 0,
                      unfinished: Callable[[], Awaitable[bool]] | None = None, new: bool = False) -> bool:
        opts = self.options(job, delay_ms=delay_ms, priority=priority)
        # Queue.add blocks while Redis is down (the client retries for a long time): bound it (and, on an HTTP
        # request, by what is left of the request's Redis budget), so the caller gets a 503 it can retry.
        try:
            async with bounded(self._settings.enqueue_timeout_s):
                # (Not looked up for `new` work: one Redis round trip less on the webhook's path; BullMQ's add
                # script keeps a job already there with this id.)
                existing = None if new else await self._queue.getJob(job.job_id)
                if existing is not None and await self._replaceable(existing, unfinished):
                    await self._discard_finished(existing)
                    existing = None
                if existing is None:
                    await self._queue.add(job.name, job.model_dump(mode="json"), opts)
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"could not enqueue {job.name}: {type(error).__name__}") from error
        return existing is None

    @staticmethod
    async def _replaceable(existing: BullJob, unfinished: Callable[[], Awaitable[bool]] | None) -> bool:
        state = await existing.getState()
        return state == "failed" or (state == "completed" and unfinished is not None and await unfinished())

    async def _discard_finished(self, finished: BullJob) -> None:
        """Make room for a fresh job with a finished job's id. (`Job.retry` would keep a failed job's stall
        count and deferred failure, so a job BullMQ failed for stalling would fail again at once.)"""
        log.warning("job %s finished earlier (%s) and is queued again", finished.id,
                    str(finished.failedReason or "completed")[:200])
        try:
            await finished.remove()
        except (RedisError, OSError):
            raise
        except Exception as error:  # removed meanwhile by another sweeper: adding is idempotent anyway
            log.info("job %s: %s", finished.id, error)

    async def counts(self) -> dict[str, int]:
        try:
            async with bounded(self._settings.enqueue_timeout_s):
                counts = await self._queue.getJobCounts("waiting", "active", "delayed", "prioritized",
                                                        "completed", "failed", "paused")
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"could not read queue counts: {type(error).__name__}") from error
        return {key: int(value) for key, value in counts.items()}

    async def failed_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        try:
            async with bounded(self._settings.enqueue_timeout_s):
                jobs = await self._queue.getJobs(["failed"], 0, limit - 1)
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"could not list failed jobs: {type(error).__name__}") from error
        return [{"id": j.id, "name": j.name, "reason": j.failedReason, "attempts": j.attemptsMade}
                for j in jobs]

    # --- operator controls (issue #13) -----------------------------------------------------------------
    async def _redis_call(self, what: str, call: Awaitable[T]) -> T:
        try:
            async with bounded(self._settings.enqueue_timeout_s):
                return await call
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"could not {what}: {type(error).__name__}") from error

    async def pause(self) -> None:
        """Stop every worker from taking jobs (running ones finish). Jobs added meanwhile are kept, in BullMQ's
        paused list, and run on resume: a paused queue still accepts every message."""
        await self._redis_call("pause the queue", self._queue.pause())

    async def resume(self) -> None:
        await self._redis_call("resume the queue", self._queue.resume())

    async def is_paused(self) -> bool:
        return bool(await self._redis_call("read the queue state", self._queue.isPaused()))

    async def drain(self) -> int:
        """Remove the jobs waiting to run (not delayed, running or failed ones); returns how many there were.
        Customer messages and greetings still unanswered are queued again by the sweeper (worker/sweeper.py)."""
        async def _drain() -> int:
            counts = await self._queue.getJobCounts("waiting", "paused", "prioritized")
            await self._queue.drain(False)
            return sum(int(value) for value in counts.values())

        return await self._redis_call("drain the queue", _drain())

    async def _failed_job(self, job_id: str) -> BullJob:
        job = await self._queue.getJob(job_id)
        if job is None or await job.getState() != "failed":
            raise NotFound(f"no failed job {job_id!r}")
        return job

    async def retry_failed(self, job_id: str) -> None:
        """Run a failed job again from its first attempt. NotFound unless `job_id` is in the failed set."""
        job = await self._redis_call("read the job", self._failed_job(job_id))
        try:
            payload = parse_job(job.name, job.data)
        except ValueError as error:
            raise InvalidRequest(f"job {job_id!r} cannot be retried: {error}") from error
        await self.enqueue(payload)  # replaces the failed job (see the module's docstring)

    async def retry_all_failed(self, limit: int = 1000) -> int:
        """Retry up to `limit` failed jobs (oldest first); returns how many were queued again."""
        jobs = await self._redis_call("list failed jobs", self._queue.getJobs(["failed"], 0, limit - 1, True))
        retried = 0
        for job in jobs:
            try:
                await self.enqueue(parse_job(job.name, job.data))
            except ValueError:
                log.warning("failed job %s has an unknown payload; left in the failed set", job.id)
                continue
            retried += 1
        return retried

    async def remove_failed(self, job_id: str) -> None:
        """Delete a failed job (its reason goes with it). NotFound unless `job_id` is in the failed set."""
        async def _remove() -> None:
            await (await self._failed_job(job_id)).remove()

        await self._redis_call("remove the job", _remove())

    async def aclose(self) -> None:
        await self._queue.close()


def parse_job(name: str, data: dict[str, Any]) -> Job:
    """Typed payload from the queue; unknown names fail loudly (a newer producer, an older worker)."""
    model = JOB_TYPES.get(name)
    if model is None:
        raise ValueError(f"unknown job name {name!r}")
    return model.model_validate(data)


class _FetchOneAtATimeWorker(Worker):
    """bullmq's Worker with the run loop of BullMQ for Node (worker.ts `run`): one fetch at a time while a slot is
    free, and finished work taken in the order it finishes, so a turn of the loop costs the same at any concurrency.

    bullmq 3.4.4's Python loop, at every turn, starts a fetcher for every free slot and then waits over every slot's
    task (`asyncio.wait` registers and removes a callback on each): at concurrency 100 with short replies, nearly all
    slots are free, so each job set off ~99 fetches (each a `moveToActive` script, all but one finding nothing) and
    each turn cost in proportion to the slots. That was a third of a reply's CPU at 100 replies/s (bench.pipeline,
    alternating runs: 8.1-8.6 ms at concurrency 100, 5.2 ms at 10). Here one fetch is out at a time: when it finds
    a job, the job starts and the next fetch goes out at once (a backlog fills the free slots one round trip apart);
    when it finds nothing, the next fetch blocks on the queue (BZPOPMIN) until a job comes or the next delayed one
    is due. Everything else is bullmq's own: `getNextJob`, `processJob`, locks, stalled checks, pause and close
    (which wait on `processing`, kept here as the set of tasks in flight)."""

    async def run(self) -> None:
        if self.running:  # type: ignore[has-type]  # (bullmq is untyped)
            raise RuntimeError("Worker is already running")
        await self._ensure_client_names()
        self.lockManager.start()
        self.stalledCheckTimer = Timer(self.opts["stalledInterval"] / 1000, self.runStalledJobsCheck, self.emit)
        self.running = True
        finished: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()  # Node's AsyncFifoQueue
        fetching: asyncio.Future[Any] | None = None
        tokens = itertools.count(1)

        def start(work: Awaitable[Any]) -> asyncio.Future[Any]:
            task = asyncio.ensure_future(work)
            self.processing.add(task)
            task.add_done_callback(finished.put_nowait)
            return task

        try:
            while not self.closed:
                if (fetching is None and not (self.closing or self.paused)
                        and len(self.processing) < self.opts["concurrency"]):
                    token = f"{self.id}:{next(tokens)}"
                    fetching = start(self.retryIfFailed(functools.partial(self.getNextJob, token), {
                        "delay_in_ms": self.opts.get("runRetryDelay"), "only_emit_error": True}))
                if not self.processing:  # paused or closing, nothing in flight
                    if self.closing:
                        break
                    await self.resume_event.wait()
                    continue
                task = await finished.get()
                self.processing.discard(task)
                if task is fetching:
                    fetching = None
                if task.cancelled():  # pause or close cancelled the fetcher's blocking wait, or close(force=True)
                    continue
                result = extract_result(task, self.emit)
                if isinstance(result, BullJob):  # fetched, so moved to active: run it even while closing
                    start(self.processJob(result, result.token))
        except Exception:  # as in bullmq's loop, which prints it and returns: the worker takes no more jobs
            log.exception("the queue's run loop failed: this worker takes no more jobs; restart it")
        finally:
            self.running = False
            if not self.closing:  # the loop failed or was cancelled: release what it started
                for task in self.processing:
                    task.cancel()
                if self.waiting is not None and not self.waiting.done():
                    self.waiting.cancel()
                if self.processing:
                    await asyncio.gather(*self.processing, return_exceptions=True)
                self.processing.clear()
            with suppress(Exception):
                self.stalledCheckTimer.stop()
            await self.lockManager.close()


async def start_worker(settings: Settings, redis_url: str, handler: JobHandler, *,
                       on_failed: Callable[[Job, str, bool], Awaitable[None]] | None = None) -> Worker:
    """Build and start a Worker inside the running event loop.

    `on_failed(job, reason, final)` runs for every failed attempt; `final` is True on the last one
    (the apology-and-handoff hook). It is registered as a sync listener that schedules the coroutine,
    because bullmq drops `async def` listeners silently.
    """

    async def process(bull_job: BullJob, token: str) -> Any:
        job = parse_job(bull_job.name, bull_job.data)
        try:
            return await handler(job, int(bull_job.attemptsMade) + 1)
        except ComeBackLater as later:  # a paced reply: its human-like delay waits in Redis, not in this slot
            await bull_job.moveToDelayed(int(time.time() * 1000) + int(later.after_s * 1000), token)
            log.debug("job %s comes back in %.2f s: %s", job.job_id, later.after_s, later)
            raise DelayedError(str(later)) from later
        except DependencyUnavailable as error:
            if error.retry_after_s is None:
                raise
            delay_ms = int(min(error.retry_after_s, MAX_DEPENDENCY_DELAY_S) * 1000) + 50
            await bull_job.moveToDelayed(int(time.time() * 1000) + delay_ms, token)  # attempt not counted
            log.info("job %s delayed %d ms without spending an attempt: %s", job.job_id, delay_ms, error)
            raise DelayedError(str(error)) from error

    worker = _FetchOneAtATimeWorker(settings.queue_name, process, {
        "connection": connection_options(redis_url),
        "prefix": settings.queue_prefix,
        "concurrency": settings.worker_concurrency,
        "lockDuration": settings.lock_duration_ms,
        "stalledInterval": settings.stalled_interval_ms,
        "maxStalledCount": settings.max_stalled_count,
        "autorun": False,
    })
    if on_failed is not None:
        def _failed(bull_job: BullJob, error: Exception, *_: Any) -> None:
            attempts = int((bull_job.opts or {}).get("attempts", 1))
            # UnrecoverableError: BullMQ failed the job for good whatever its attempts, e.g. after it stalled
            # more than `maxStalledCount` times (its workers kept dying under it).
            final = int(bull_job.attemptsMade) >= attempts or isinstance(error, UnrecoverableError)
            try:
                job = parse_job(bull_job.name, bull_job.data)
            except ValueError:
                return
            _keep(asyncio.ensure_future(on_failed(job, str(error), final)))

        worker.on("failed", _failed)
    # Read the server version on both connections before running; otherwise delays and backoffs are
    # computed with the wrong blocking-timeout capabilities and run up to a second late.
    # Bounded, and by asyncio.wait rather than wait_for: with Redis gone the call retries on and may swallow a
    # cancellation, and a worker must not hang at start-up.
    for connection in (worker.redisConnection, worker.blockingRedisConnection):
        if connection is not None:
            version = _keep(asyncio.ensure_future(connection.getRedisVersion()))
            done, _ = await asyncio.wait({version}, timeout=STARTUP_TIMEOUT_S)
            if not done:
                version.cancel()
                raise DependencyUnavailable("redis", f"no answer within {STARTUP_TIMEOUT_S:.0f} s")
            if (error := version.exception()) is not None:
                raise DependencyUnavailable("redis", f"{type(error).__name__}: {error}") from error
    _keep(asyncio.ensure_future(worker.run()))
    return worker
