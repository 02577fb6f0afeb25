"""One worker process holding thousands of conversations in their human-like delay at once.

    .venv/bin/python -m bench.hold                        # C=10,000, one worker, WORKER_CONCURRENCY=100

Issue #15 item 3: one worker holds 10,000 conversations in their delay with RSS ≤ 300 MB and < 5 % of a core
while they wait, and answers them all as the delays end. A reply's delay is a delayed BullMQ job that the API
queues when it accepts the message, with the broker shown typing (`usecases/inbound.py`): the job runs once, when
the reply is due (`usecases/replies.py`). The run:

1. API (`aibroker serve`, only for the worker heartbeats) and REPLY_SLA_MS=60000 so the delay is not clipped:
   every conversation has the conservative persona, so every reply is due 6 s ±15 % after its message.
2. Setup (not measured), written directly through the product's models with multi-row INSERTs: C greeted
   conversations, one customer message each, and its `inbound_messages` row.
3. THE measured worker (`aibroker worker`) starts; its RSS and CPU are read idle on the empty queue.
4. Arrival: every message is received now (`received_at` and the message's `created_at` set to one moment), and
   the bench does for all C at once what the API does for each message it accepts: the typing indicator on, and
   the job queued already delayed until the reply is due (receipt + `ReplyPacer`'s delay, the API's and the
   worker's; the job options of `BullJobQueue.options`), added with BullMQ's `addBulk` in batches, so that all C
   are queued before the first reply is due (how long it took is reported; a job added after its due moment
   would run at once). `bench.webhook` measures the API's side of this per request.
5. Sampled every `--interval` s until every reply is in: BullMQ's wait / active / delayed counts, HELD
   conversations (job in the delayed set AND typing on), the worker's RSS and CPU, Redis's memory.

Figures: peak held at once; the worker's CPU and RSS WHILE WAITING (the sampling intervals in which nothing was
waiting to run and nothing was active, only delayed jobs); the answering once replies come due (replies per
second, worker CPU per reply: with C replies due within ~1.8 s of each other, one process answers them at its
reply rate, which is the limit on "answered as the delays end"); the replies' lateness (sent − due); completion;
how often a job started (1: never sent back to wait); duplicates and lost (reply ledger + visible messages,
`audit_replies`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import redis.asyncio as aioredis
from bullmq import Queue
from sqlalchemy import update

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import InboundMessage, InboxMessage
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.bootstrap import EXPECTED_GENERATION_MS
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.pacing import DEFAULT_PACING, ReplyPacer
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.scoring import queue_priority
from bench.common import (
    CONSERVATIVE_LEAD,
    add_infra_args,
    fmt,
    header,
    load_average,
    question,
    rel,
    show,
    summarize,
    write_results,
)
from bench.observe import DbReader, audit_replies, job_stats
from bench.seed import insert_rows, seed_greeted, typing_on
from bench.system import (
    Infra,
    Service,
    cpu_seconds,
    infrastructure,
    proc_status_kb,
    start_api,
    start_worker_process,
    wait_worker_heartbeat,
)

PERSONA = PERSONAS_BY_NAME["Grace Lim"]  # conservative: 6 s ±15 %


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hold", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000, help="C (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, help="WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--sla-ms", type=int, default=60_000,
                        help="REPLY_SLA_MS; large so the 6 s persona delay is not clipped (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=0.5, help="sampling interval, s (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for every reply after the arrival (default: 60 + C / 10, i.e. at "
                             "least 10 replies/s)")
    add_infra_args(parser)
    args = parser.parse_args(argv)
    if args.conversations < 1:
        parser.error("need --conversations >= 1")
    if args.timeout is None:
        args.timeout = 60 + args.conversations / 10
    return args


@dataclass
class Setup:
    conversations: list[int]  # conversation ids
    inbox_of: dict[int, int]  # inbox conversation id → conversation id
    messages: dict[int, str]  # conversation id → its customer message id
    contents: dict[int, str]  # conversation id → the message's text (its urgency sets the delay)
    lead_scores: dict[int, int]  # conversation id → lead score (the job's priority)
    seconds: float


async def setup_bulk(args: argparse.Namespace, infra: Infra, run: str) -> Setup:
    """Greeted conversations with a recorded customer message each, written through the product's models
    (`bench.seed`); the messages arrive (typing, jobs) in `arrive`."""
    t0 = time.monotonic()
    seeded = await seed_greeted(infra.database_url, args.conversations, run, CONSERVATIVE_LEAD)
    contents = [question(i, 0) for i in range(args.conversations)]
    now = datetime.now(UTC)
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=infra.database_url).sqlalchemy_url)  # type: ignore[call-arg]
    async with engine.begin() as db:
        messages = await insert_rows(db, InboxMessage, [
            {"conversation_id": b, "role": "customer", "private": False, "activity": False, "created_at": now,
             "content": text, "source_id": f"client:{run}-{i}"}
            for i, (b, text) in enumerate(zip(seeded.inbox_ids, contents, strict=True))])
        await insert_rows(db, InboundMessage, [
            {"conversation_id": c, "message_id": str(m), "received_at": now, "queued_at": now}
            for c, m in zip(seeded.conversations, messages, strict=True)])
    await engine.dispose()
    pairs = list(zip(seeded.conversations, messages, strict=True))
    setup = Setup(seeded.conversations, dict(zip(seeded.inbox_ids, seeded.conversations, strict=True)),
                  {c: str(m) for c, m in pairs}, dict(zip(seeded.conversations, contents, strict=True)),
                  dict(zip(seeded.conversations, seeded.lead_scores, strict=True)), round(time.monotonic() - t0, 2))
    print(f"{len(pairs)} greeted conversations with a recorded message each, in {setup.seconds} s", flush=True)
    return setup


ARRIVAL_BATCH = 1000  # jobs per addBulk call


async def stamp_received(infra: Infra, setup: Setup) -> datetime:
    """Every message is received now (its `inbound_messages` row and its visible `created_at`); returns when."""
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=infra.database_url).sqlalchemy_url)  # type: ignore[call-arg]
    received = datetime.now(UTC)
    async with engine.begin() as session:
        await session.execute(update(InboundMessage).where(InboundMessage.conversation_id.in_(setup.conversations))
                              .values(received_at=received, queued_at=received))
        await session.execute(update(InboxMessage).where(InboxMessage.role == "customer",
                                                         InboxMessage.conversation_id.in_(list(setup.inbox_of)))
                              .values(created_at=received))
    await engine.dispose()
    return received


async def arrive(infra: Infra, setup: Setup, sla_ms: int) -> tuple[datetime, dict[str, Any]]:
    """Every message is received now; then, for all at once, what the API does on accepting one: typing on, and
    the job queued delayed until its reply is due. Returns the receipt time and how the queueing went."""
    received = await stamp_received(infra, setup)
    due = due_at(setup, sla_ms, received)
    redis = aioredis.Redis.from_url(infra.redis_url)
    await typing_on(redis, infra.prefix, list(setup.inbox_of))
    await redis.aclose()
    settings = Settings(_env_file=None, REDIS_URL=infra.redis_url, QUEUE_PREFIX=infra.prefix,  # type: ignore[call-arg]
                        QUEUE_NAME="aibroker")
    jobs = BullJobQueue(settings, infra.redis_url)
    queue = Queue("aibroker", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
    late = 0
    items = list(setup.messages.items())
    for start in range(0, len(items), ARRIVAL_BATCH):
        now_ms = time.time() * 1000
        batch = []
        for c, m in items[start:start + ARRIVAL_BATCH]:
            due_ms = round(due[c] * 1000)
            late += due_ms <= now_ms
            job = IncomingMessageJob(conversation_id=c, message_id=m, lead_score=setup.lead_scores[c], due_at_ms=due_ms)
            batch.append({"name": job.name, "data": job.model_dump(mode="json"), "opts": jobs.options(
                job, delay_ms=max(0, int(due_ms - now_ms)), priority=queue_priority(setup.lead_scores[c]))})
        await queue.addBulk(batch)
    queued_s = time.time() - received.timestamp()
    await queue.close()
    await jobs.aclose()
    return received, {"queued_all_after_s": round(queued_s, 2), "queued_after_due": late}


def due_at(setup: Setup, sla_ms: int, received: datetime) -> dict[int, float]:
    """When each reply is due (epoch s): receipt + the delay the API and the worker draw (same pacer, same seed)."""
    pacer = ReplyPacer(DEFAULT_PACING, EXPECTED_GENERATION_MS["offline"], sla_ms)
    return {c: (received + timedelta(milliseconds=pacer.delay(PERSONA.persona_type, c, m, setup.contents[c]).ms))
            .timestamp() for c, m in setup.messages.items()}


async def sample(infra: Infra, setup: Setup, reader: DbReader, worker: Service, started: float) -> dict[str, Any]:
    """One point: BullMQ's lists, held conversations (delayed job and typing on), the worker's RSS and CPU."""
    redis = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    key = f"{infra.prefix}:aibroker"
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.llen(f"{key}:wait")
        pipe.llen(f"{key}:paused")
        pipe.zcard(f"{key}:prioritized")
        pipe.llen(f"{key}:active")
        pipe.zrange(f"{key}:delayed", 0, -1)
        pipe.info("memory")
        wait, paused, prioritized, active, delayed, memory = await pipe.execute()
    finally:
        await redis.aclose()
    typing = {setup.inbox_of.get(i) for i in await reader.typing_ids()}
    delayed_conversations = {int(job.split("-")[2]) for job in delayed if job.startswith("incoming-message-")}
    return {"t": round(time.time() - started, 2), "waiting": wait + paused + prioritized, "active": active,
            "delayed": len(delayed), "typing": len(typing), "held": len(delayed_conversations & typing),
            "answered": await reader.finished_count("message:"), "worker_cpu_s": cpu_seconds(worker.pid) or 0.0,
            "worker_rss_kb": proc_status_kb(worker.pid, "VmRSS") or 0,
            "redis_used_mb": round(int(memory["used_memory"]) / 2**20, 1)}


async def hold(args: argparse.Namespace, infra: Infra, setup: Setup, worker: Service, reader: DbReader
               ) -> dict[str, Any]:
    await asyncio.sleep(2.0)  # the worker is up (heartbeat seen); let it settle on the empty queue
    rss_idle = proc_status_kb(worker.pid, "VmRSS") or 0
    cpu_idle_start = cpu_seconds(worker.pid) or 0.0
    await asyncio.sleep(3.0)
    idle_cores = ((cpu_seconds(worker.pid) or 0.0) - cpu_idle_start) / 3.0
    print(f"worker idle on the empty queue: RSS {rss_idle / 1024:.1f} MB, CPU {idle_cores:.3f} cores; "
          f"{len(setup.messages)} messages arrive now", flush=True)
    received, arrival = await arrive(infra, setup, args.sla_ms)
    print(f"all queued (typing on, delayed until due) {arrival['queued_all_after_s']} s after the arrival; "
          f"{arrival['queued_after_due']} queued after their due moment", flush=True)
    started = received.timestamp()
    series: list[dict[str, Any]] = []
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        point = await sample(infra, setup, reader, worker, started)
        series.append(point)
        if point["answered"] >= len(setup.messages):
            break
        await asyncio.sleep(max(0.0, args.interval - (time.time() - started - point["t"])))
    await asyncio.sleep(1.0)  # give a duplicate the chance to show up before counting
    return {"received": received, "arrival": arrival, "series": series, "rss_idle_kb": rss_idle,
            "idle_cores": idle_cores, "rss_peak_kb": proc_status_kb(worker.pid, "VmHWM") or 0}


def answering(series: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """The answering, from the first sample with a reply sent to the last sample: replies per second and the
    worker's CPU per reply (what bounds "answered as the delays end" when C replies fall due at once)."""
    busy = [p for p in series if p["answered"] > 0]
    if len(busy) < 2:
        return {"replies_per_s": None, "cpu_ms_each": None, "worker_cores": None}
    first, last = busy[0], busy[-1]
    window, done = last["t"] - first["t"], last["answered"] - first["answered"]
    cpu = last["worker_cpu_s"] - first["worker_cpu_s"]
    return {"replies_per_s": round(done / window, 1) if window > 0 else None, "window_s": round(window, 2),
            "replies": done, "cpu_ms_each": round(cpu / done * 1000, 2) if done else None,
            "worker_cores": round(cpu / window, 2) if window > 0 else None,
            "drain_s_for_all": round(total / (done / window), 1) if window > 0 and done else None}


def waiting_only(series: list[dict[str, Any]], first_due_s: float) -> dict[str, Any]:
    """The worker's cost WHILE conversations wait: sampling intervals that start and end with nothing waiting to
    run and nothing active (only delayed jobs), and end before the first reply is due. (Without that last rule,
    an interval that spans the first due moment bills the start of the answering to the wait: the queue's counts
    lag the worker by a moment.)"""
    seconds = cpu = 0.0
    held: list[int] = []
    rss: list[int] = []
    for a, b in pairwise(series):
        if a["waiting"] + a["active"] == 0 == b["waiting"] + b["active"] and a["delayed"] and b["delayed"] \
                and b["t"] <= first_due_s:
            seconds += b["t"] - a["t"]
            cpu += b["worker_cpu_s"] - a["worker_cpu_s"]
            held.append(a["held"])
            rss.append(b["worker_rss_kb"])
    if seconds == 0:
        return {"seconds": 0, "cores": None, "held_min": None, "held_max": None, "rss_mb_max": None}
    return {"seconds": round(seconds, 2), "cores": round(cpu / seconds, 4), "held_min": min(held),
            "held_max": max(held), "rss_mb_max": round(max(rss) / 1024, 1)}


def analyse(args: argparse.Namespace, setup: Setup, held: dict[str, Any], ledger: list[dict[str, Any]],
            bot: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    series, started = held["series"], held["received"].timestamp()
    due = due_at(setup, args.sla_ms, held["received"])
    rows = {(r["conversation_id"], r["key"]): r for r in ledger}
    sent = {c: rows[(c, f"message:{m}")]["sent_at"] for c, m in setup.messages.items()
            if (c, f"message:{m}") in rows and rows[(c, f"message:{m}")]["state"] == "sent"}
    replied = [t for t in sent.values() if t is not None]
    unanswered = sum(1 for c, m in setup.messages.items()
                     if rows.get((c, f"message:{m}"), {"state": "claimed"})["state"] == "claimed")
    timed_out = (series[-1]["answered"] if series else 0) < len(setup.messages)
    first_due_s = min(due.values()) - started
    rss_peak = max((p["worker_rss_kb"] for p in series), default=0)
    cpu_total = series[-1]["worker_cpu_s"] - series[0]["worker_cpu_s"] if series else 0.0
    peak = max(series, key=lambda p: p["held"]) if series else {}
    return {
        "mode": {"conversations": args.conversations, "worker_concurrency": args.concurrency,
                 "reply_sla_ms": args.sla_ms, "persona": "conservative (6 s ±15 % delay, not clipped)",
                 "worker_processes": 1, "arrival": "all C messages received at the same moment"},
        "phases_s": {"setup_s": setup.seconds, "timed_out": timed_out,
                     "first_due_s": round(first_due_s, 2), "last_due_s": round(max(due.values()) - started, 2)},
        "hold": {"peak_held": peak.get("held", 0), "peak_held_at_s": peak.get("t"),
                 "peak_delayed": max((p["delayed"] for p in series), default=0),
                 "peak_typing": max((p["typing"] for p in series), default=0),
                 "arrival": held["arrival"], "answering": answering(series, len(setup.messages)),
                 "answered": len(replied),
                 "completion_s": round(max(replied) - started, 2) if replied and not timed_out else None,
                 "reply_after_arrival_ms": summarize((t - started) * 1000 for t in replied),
                 "lateness_ms": summarize((t - due[c]) * 1000 for c, t in sent.items() if t is not None)},
        "worker_memory_mb": {"rss_idle": round(held["rss_idle_kb"] / 1024, 1), "rss_peak_sampled": round(
            rss_peak / 1024, 1), "rss_peak_vmhwm": round(held["rss_peak_kb"] / 1024, 1),
            "per_held_conversation_kb": round((rss_peak - held["rss_idle_kb"]) / max(peak.get("held", 0), 1), 1),
            "redis_used_at_peak_held": peak.get("redis_used_mb"),
            "redis_used_per_conversation_kb": round(peak["redis_used_mb"] * 1024 / len(setup.messages), 2)
            if peak else None},
        "worker_cpu": {"idle_on_empty_queue_cores": round(held["idle_cores"], 4),
                       "while_waiting": waiting_only(series, first_due_s),
                       "whole_run_s": round(cpu_total, 1),
                       "per_reply_ms_all_included": round(cpu_total / len(replied) * 1000, 1) if replied else None},
        "correctness": {"messages": len(setup.messages), "answered": len(replied), "unanswered_at_end": unanswered,
                        "lost": None if timed_out else unanswered, **audit_replies(ledger, bot)},
        "series": series[:: max(1, len(series) // 300)],
    }


async def drive(args: argparse.Namespace, infra: Infra, env: dict[str, str], base_url: str
                ) -> tuple[dict[str, Any], Service]:
    reader = DbReader(infra.database_url, infra.redis_url, infra.prefix)
    setup = await setup_bulk(args, infra, uuid.uuid4().hex[:6])
    worker = start_worker_process(infra, {**env, "WORKER_CONCURRENCY": str(args.concurrency)})
    await asyncio.to_thread(wait_worker_heartbeat, base_url)
    held = await hold(args, infra, setup, worker, reader)
    ledger = await reader.ledger(setup.conversations)
    bot = await reader.bot_messages(setup.conversations)
    await reader.aclose()
    result = analyse(args, setup, held, ledger, bot)
    result["bullmq_jobs"] = job_stats(infra.redis_url, infra.prefix,
                                      [IncomingMessageJob(conversation_id=c, message_id=m).job_id
                                       for c, m in setup.messages.items()])
    return result, worker


def report(result: dict[str, Any]) -> None:
    h, m, cpu, c = result["hold"], result["worker_memory_mb"], result["worker_cpu"], result["correctness"]
    answer, waiting = h["answering"], cpu["while_waiting"]
    show("hold: one worker, thousands of conversations in their delay", {
        "conversations / WORKER_CONCURRENCY": f"{result['mode']['conversations']} / "
                                              f"{result['mode']['worker_concurrency']}",
        "peak held (delayed + typing)": f"{h['peak_held']} at {h['peak_held_at_s']} s "
                                        f"(delayed set peak {h['peak_delayed']}, typing peak {h['peak_typing']})",
        "arrival (typing on, jobs delayed)": f"all queued after {h['arrival']['queued_all_after_s']} s "
                                             f"({h['arrival']['queued_after_due']} after their due moment); replies "
                                             f"due from {result['phases_s']['first_due_s']} to "
                                             f"{result['phases_s']['last_due_s']} s",
        "answering": f"{answer['replies_per_s']} replies/s, {answer['cpu_ms_each']} ms of worker CPU each (worker "
                     f"busy {answer['worker_cores']} cores): all C take ~{answer['drain_s_for_all']} s",
        "worker while they wait": f"{waiting['cores']} cores over {waiting['seconds']} s, holding "
                                f"{waiting['held_min']}–{waiting['held_max']}, RSS ≤ {waiting['rss_mb_max']} MB",
        "worker RSS idle → peak": f"{m['rss_idle']} → {m['rss_peak_sampled']} MB "
                                  f"({m['per_held_conversation_kb']} KB per held conversation)",
        "Redis memory at peak held": f"{m['redis_used_at_peak_held']} MB (all C jobs and their data: "
                                     f"{m['redis_used_per_conversation_kb']} KB per conversation)",
        "worker CPU": f"idle {cpu['idle_on_empty_queue_cores']} cores; whole run {cpu['whole_run_s']} s, "
                      f"{cpu['per_reply_ms_all_included']} ms per reply (all included)",
        "answered": f"{h['answered']} of {c['messages']}" + (" (timed out)" if result["phases_s"]["timed_out"]
                                                             else f", last after {h['completion_s']} s"),
        "reply lateness (sent − due)": fmt(h["lateness_ms"]),
        "duplicates / lost": f"{c['duplicates']} / {'unknown (timed out)' if c['lost'] is None else c['lost']}",
        "BullMQ: most starts of a job": f"{result['bullmq_jobs']['max_starts']} (1: run once, when due; "
                                        f"stalled: {result['bullmq_jobs']['stalled']}; completed jobs kept: "
                                        f"{result['bullmq_jobs']['jobs_found']})",
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
    })


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("hold", args)
    with infrastructure(args, "hold") as infra:
        env = infra.env(PACING_ENABLED=True, WORKER_CONCURRENCY=args.concurrency, REPLY_SLA_MS=args.sla_ms)
        _, base_url = start_api(infra, env)
        result, worker = asyncio.run(drive(args, infra, env, base_url))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
        if not worker.alive():
            result["warnings"] = [f"worker exited early: {worker.log_tail(800)}"]
    report(result)
    path = write_results(args.results_dir, "hold", result, args.tag)
    print(f"\nresults: {rel(path)}")
    c = result["correctness"]
    if c["duplicates"] or c["lost"]:
        return 1
    return 2 if c["lost"] is None else 0  # 2: timed out, so "lost" could not be told from "late"


if __name__ == "__main__":
    raise SystemExit(main())
