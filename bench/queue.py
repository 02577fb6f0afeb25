"""Raw queue throughput through our adapter: `BullJobQueue.enqueue` and `start_worker` with a no-op handler.

    .venv/bin/python -m bench.queue

Compare with ARCHITECTURE §3 (bullmq 3.4.4, redis-py 8.1, Redis 7.0, one process): about 3,400 jobs/s
processed, 6,500 single adds/s, 1–2 ms pickup latency at 200 jobs/s. Phases, each on its own queue:

1. adds: N sequential adds through `BullJobQueue.enqueue` (which first looks the job id up, because
   bullmq's `add` does not say whether the id existed), and N through bullmq's bare `Queue.add`.
2. processing: for each `--concurrency`, N jobs are waiting; a worker from `start_worker` drains them.
   jobs/s = jobs / (last handler call − first handler call).
3. pickup: the worker runs, jobs are added at `--rate` per second; pickup = handler start − enqueue start.
4. delayed: jobs with delay=100 ms at `--delayed-rate` per second; lateness = handler start − (enqueue
   start + 100 ms). The guard rails (Redis version read before `run()`) exist so that this stays small.
5. idle cost: CPU used by a worker with nothing to do, per `--idle-concurrency`, and the Redis commands
   it sends meanwhile. Waiting should cost nothing whatever WORKER_CONCURRENCY is; with bullmq's Python
   worker it does not (each wake-up refills `concurrency` fetchers and re-waits on all of them).

Producer and worker share one process and one event loop, as in the figures being compared. Redis is a
private `redis-server` (AOF everysec) unless `--redis-url` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from bullmq import Queue

from aibroker.adapters.queue.bullmq_queue import KEEP_COMPLETED, KEEP_FAILED, BullJobQueue, start_worker
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob, Job
from bench.common import add_infra_args, fmt, header, load_average, rel, show, summarize, write_results
from bench.system import Infra, cpu_seconds, infrastructure


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000, help="N, jobs per add / processing phase "
                                                               "(default: %(default)s)")
    parser.add_argument("--concurrency", default="1,10,100,1000",
                        help="worker concurrencies to drain N jobs with (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=200.0, help="jobs/s in the pickup phase (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the pickup phase (default: %(default)s)")
    parser.add_argument("--pickup-concurrency", default="1,100",
                        help="worker concurrencies for the pickup and delayed phases (default: %(default)s)")
    parser.add_argument("--delayed", type=int, default=500, help="delayed jobs (default: %(default)s)")
    parser.add_argument("--delayed-rate", type=float, default=50.0, help="delayed jobs/s (default: %(default)s)")
    parser.add_argument("--delay-ms", type=int, default=100, help="their delay (default: %(default)s)")
    parser.add_argument("--idle-concurrency", default="100,1000",
                        help="worker concurrencies whose idle CPU is measured (default: %(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=4.0, help="per concurrency (default: %(default)s)")
    add_infra_args(parser, database=False)
    return parser.parse_args(argv)


def _settings(infra: Infra, queue: str, concurrency: int) -> Settings:
    return Settings(_env_file=None, REDIS_URL=infra.redis_url, QUEUE_PREFIX=infra.prefix,  # type: ignore[call-arg]
                    QUEUE_NAME=queue, WORKER_CONCURRENCY=concurrency, LOG_LEVEL="WARNING")


def _job(i: int, tag: str) -> IncomingMessageJob:
    return IncomingMessageJob(conversation_id=i, message_id=f"{tag}{i}", lead_score=50)


class Recorder:
    """The no-op handler: notes when each job reached it, and signals when `expected` jobs have."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: dict[str, float] = {}
        self.done = asyncio.Event()
        self.attempts_over_one = 0

    async def __call__(self, job: Job, attempt: int) -> str:
        assert isinstance(job, IncomingMessageJob)
        self.seen.setdefault(job.message_id, time.perf_counter())
        if attempt > 1:
            self.attempts_over_one += 1
        if len(self.seen) >= self.expected:
            self.done.set()
        return "ok"


async def _timed(count: int, add: Callable[[int], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    for i in range(count):
        await add(i)
    return count / (time.perf_counter() - start)


async def phase_adds(infra: Infra, n: int) -> dict[str, Any]:
    settings = _settings(infra, "adds", 1)
    adapter = BullJobQueue(settings, infra.redis_url)
    raw = Queue("adds-raw", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
    opts = {"attempts": 3, "backoff": {"type": "exponential", "delay": 2000}, "removeOnComplete": KEEP_COMPLETED,
            "removeOnFail": KEEP_FAILED}
    try:
        adapter_rate = await _timed(n, lambda i: adapter.enqueue(_job(i, "a")))
        again_rate = await _timed(n, lambda i: adapter.enqueue(_job(i, "a")))  # every id exists: lookups only
        raw_rate = await _timed(n, lambda i: raw.add("incoming-message", _job(i, "r").model_dump(mode="json"),
                                                     {**opts, "jobId": _job(i, "r").job_id}))
    finally:
        await adapter.aclose()
        await raw.close()
    return {"adapter_enqueue_per_s": round(adapter_rate), "adapter_enqueue_existing_id_per_s": round(again_rate),
            "bullmq_queue_add_per_s": round(raw_rate)}


async def phase_processing(infra: Infra, n: int, concurrency: int) -> dict[str, Any]:
    settings = _settings(infra, f"drain-{concurrency}", concurrency)
    queue = BullJobQueue(settings, infra.redis_url)
    for i in range(n):
        await queue.enqueue(_job(i, "d"))
    recorder = Recorder(n)
    started = time.perf_counter()
    worker = await start_worker(settings, infra.redis_url, recorder)
    try:
        await asyncio.wait_for(recorder.done.wait(), timeout=max(60.0, n / 50))
    finally:
        await worker.close()
        await queue.aclose()
    times = sorted(recorder.seen.values())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {"concurrency": concurrency, "jobs": len(times),
            "jobs_per_s": round((len(times) - 1) / span) if span else None,
            "first_pickup_after_start_ms": round((times[0] - started) * 1000, 1),
            "retried": recorder.attempts_over_one}


async def _steady(infra: Infra, name: str, count: int, rate: float, concurrency: int, delay_ms: int) -> list[float]:
    """Add `count` jobs at `rate`/s to a running worker; per job, handler start − (enqueue start + delay)."""
    settings = _settings(infra, name, concurrency)
    queue = BullJobQueue(settings, infra.redis_url)
    recorder = Recorder(count)
    worker = await start_worker(settings, infra.redis_url, recorder)
    sent: dict[str, float] = {}
    await asyncio.sleep(0.5)  # let the worker reach its blocking wait
    try:
        start = time.perf_counter()
        for i in range(count):
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            job = _job(i, "s")
            sent[job.message_id] = time.perf_counter()
            await queue.enqueue(job, delay_ms=delay_ms)
        await asyncio.wait_for(recorder.done.wait(), timeout=30 + delay_ms / 1000)
    finally:
        await worker.close()
        await queue.aclose()
    return [(recorder.seen[key] - at) * 1000 - delay_ms for key, at in sent.items() if key in recorder.seen]


async def phase_idle(infra: Infra, concurrency: int, seconds: float) -> dict[str, Any]:
    settings = _settings(infra, f"idle-{concurrency}", concurrency)
    worker = await start_worker(settings, infra.redis_url, Recorder(1))
    redis = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    try:
        await asyncio.sleep(1.0)
        await redis.config_resetstat()
        cpu = cpu_seconds(os.getpid()) or 0.0
        await asyncio.sleep(seconds)
        used = (cpu_seconds(os.getpid()) or 0.0) - cpu
        stats = await redis.info("commandstats")
    finally:
        await worker.close()
        await redis.aclose()
    # Every client of this Redis counts: exact with the private Redis, approximate with --redis-url.
    calls = sum(int(v.get("calls", 0)) for k, v in stats.items()
                if not k.startswith(("cmdstat_config", "cmdstat_info")))
    return {"concurrency": concurrency, "cpu_cores": round(used / seconds, 3),
            "redis_commands_per_s": round(calls / seconds)}


async def run(args: argparse.Namespace, infra: Infra) -> dict[str, Any]:
    adds = await phase_adds(infra, args.jobs)
    print(f"adds: {adds}", flush=True)
    processing = []
    for concurrency in (int(c) for c in args.concurrency.split(",") if c.strip()):
        result = await phase_processing(infra, args.jobs, concurrency)
        print(f"processing: {result}", flush=True)
        processing.append(result)
    steady = []
    for concurrency in (int(c) for c in args.pickup_concurrency.split(",") if c.strip()):
        pickup = await _steady(infra, f"pickup-{concurrency}", int(args.rate * args.seconds), args.rate, concurrency, 0)
        delayed = await _steady(infra, f"delayed-{concurrency}", args.delayed, args.delayed_rate, concurrency,
                                args.delay_ms)
        steady.append({"concurrency": concurrency,
                       "pickup_latency_ms": {"rate_per_s": args.rate, **summarize(pickup, 2)},
                       "delayed_lateness_ms": {"delay_ms": args.delay_ms, "rate_per_s": args.delayed_rate,
                                               **summarize(delayed, 2)}})
        print(f"steady, concurrency {concurrency}: pickup {fmt(steady[-1]['pickup_latency_ms'])}; "
              f"lateness {fmt(steady[-1]['delayed_lateness_ms'])}", flush=True)
    idle = []
    for concurrency in (int(c) for c in args.idle_concurrency.split(",") if c.strip()):
        result = await phase_idle(infra, concurrency, args.idle_seconds)
        print(f"idle: {result}", flush=True)
        idle.append(result)
    best = max((p["jobs_per_s"] or 0 for p in processing), default=0)
    return {
        "adds": adds,
        "processing": processing,
        "processed_jobs_per_s_best": best,
        "steady": steady,
        "idle_worker": idle,
        "architecture_figures": {"processed_per_s": 3400, "adds_per_s": 6500, "pickup_ms": "1-2 at 200 jobs/s"},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("queue", args)
    with infrastructure(args, "queue", database=False) as infra:
        result = asyncio.run(run(args, infra))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
    show("queue adapter (BullJobQueue + start_worker, one process)", {
        "adds/s: adapter enqueue": result["adds"]["adapter_enqueue_per_s"],
        "adds/s: adapter, id exists": result["adds"]["adapter_enqueue_existing_id_per_s"],
        "adds/s: bare bullmq Queue.add": result["adds"]["bullmq_queue_add_per_s"],
        **{f"processed jobs/s, concurrency {p['concurrency']}": p["jobs_per_s"] for p in result["processing"]},
        **{f"pickup at {args.rate:g}/s, concurrency {x['concurrency']}": fmt(x["pickup_latency_ms"])
           for x in result["steady"]},
        **{f"{args.delay_ms} ms delays late by, concurrency {x['concurrency']}": fmt(x["delayed_lateness_ms"])
           for x in result["steady"]},
        **{f"idle worker, concurrency {i['concurrency']}": f"{i['cpu_cores']} cores, "
                                                          f"{i['redis_commands_per_s']} Redis commands/s"
           for i in result["idle_worker"]},
        "ARCHITECTURE §3": "3,400 processed/s · 6,500 adds/s · 1–2 ms pickup at 200/s",
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
    })
    path = write_results(args.results_dir, "queue", result, args.tag)
    print(f"\nresults: {rel(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
