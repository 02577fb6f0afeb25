"""One worker process holding thousands of conversations in their human-like delay at once.

    .venv/bin/python -m bench.hold

ARCHITECTURE §3 ("Async workers, cheap waits"): the seeds' worker ran 3 jobs at a time and slept inside
them (about one message a second); one of ours must hold thousands of conversations in their delay at
once. The run:

1. API (`aibroker serve`), pacing on and REPLY_SLA_MS=60000 so the persona delay is not clipped: every
   lead is a low-score lead, so every conversation gets the conservative persona's 6 s (±15 %) delay.
2. Setup, with the queue paused (bullmq `Queue.pause`): C greeted conversations with one unanswered
   customer message each, and their jobs on the queue.
   `--setup bulk` (default) writes those rows with a few multi-row INSERTs through the product's own
   models and enqueues through `BullJobQueue`: seconds instead of minutes, since the intake path is
   not what is measured here (`bench.pipeline` measures it).
   `--setup api` does it the long way: `POST /api/leads`, greetings by a setup worker (concurrency
   300, stopped afterwards), `POST /api/conversations/{id}/messages`. Then only the first 10 leads get
   the conservative broker: when a type's brokers are full the intake assigns any free broker (5 brokers
   × 10 chats), whose persona then paces the replies.
3. Start THE measured worker: one `aibroker worker` with WORKER_CONCURRENCY=1000 (the most the settings
   allow since a 5000 run showed bullmq's Python worker loop livelocking: 0 of 2,000 answered in 75 s, see
   bench/README.md). Note its resident
   memory and CPU while idle on the paused queue, then resume: the whole backlog reaches it at once.
4. Sample every 0.1 s: BullMQ's active list (distinct job ids), conversations with the typing indicator on
   (= in their delay), the worker's RSS (/proc) and CPU; wait for every reply (read from the reply ledger).

Figures: peak active jobs and peak conversations in delay, RSS before/peak and per held conversation,
completion time (resume → last reply; the ideal is the longest delay, about 6.9 s), duplicates, lost.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from bullmq import Queue
from sqlalchemy import insert as insert_into

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import (
    Conversation,
    InboundMessage,
    InboxContact,
    InboxConversation,
    InboxMessage,
    ReplyLedgerEntry,
)
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings
from aibroker.domain.greetings import greeting_for
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.ledger import greeting_key, source_tag
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.scoring import queue_priority
from bench.common import (
    CONSERVATIVE_LEAD,
    add_infra_args,
    bounded,
    fmt,
    header,
    lead,
    load_average,
    question,
    rel,
    show,
    summarize,
    write_results,
)
from bench.observe import DbReader, audit_replies, job_stats, sampling
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hold", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=2000, help="C (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=1000, help="WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--sla-ms", type=int, default=60_000,
                        help="REPLY_SLA_MS; large so the 6 s persona delay is not clipped (default: %(default)s)")
    parser.add_argument("--setup", choices=["bulk", "api"], default="bulk",
                        help="how conversations and messages are created (default: %(default)s)")
    parser.add_argument("--setup-concurrency", type=int, default=300,
                        help="WORKER_CONCURRENCY of the worker that sends the greetings (default: %(default)s)")
    parser.add_argument("--http-concurrency", type=int, default=16,
                        help="lead forms / messages in flight during setup (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=75.0, help="seconds to wait for the greetings, and again "
                                                                    "for the replies (default: %(default)s)")
    add_infra_args(parser)
    return parser.parse_args(argv)


async def setup_bulk(args: argparse.Namespace, infra: Infra, env: dict[str, str], run: str
                     ) -> tuple[dict[int, int], dict[int, str], dict[str, float]]:
    """The state the API path leaves behind (greeted conversation + recorded, queued customer message), written
    with multi-row INSERTs through the product's models, then one job per message through `BullJobQueue`."""
    t0 = time.monotonic()
    persona = PERSONAS_BY_NAME["Grace Lim"]
    forms = [LeadForm.model_validate(lead(i, run, CONSERVATIVE_LEAD)) for i in range(args.conversations)]
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=infra.database_url).sqlalchemy_url)  # type: ignore[call-arg]
    now = datetime.now(UTC)

    async def insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(rows), 500):
            result = await session.execute(insert_into(model).returning(model.id, sort_by_parameter_order=True),
                                           rows[start:start + 500])
            ids.extend(int(row[0]) for row in result.all())
        return ids

    async with engine.begin() as session:
        contacts = await insert(session, InboxContact, [
            {"name": f.name, "email": str(f.email), "phone": f.phone, "created_at": now} for f in forms])
        inbox_ids = await insert(session, InboxConversation, [
            {"contact_id": c, "status": "pending", "attributes": {"broker": persona.name}, "labels": [],
             "typing": False, "created_at": now} for c in contacts])
        conversation_ids = await insert(session, Conversation, [
            {"inbox": "builtin", "inbox_conversation_id": str(b), "inbox_contact_id": str(c),
             "loan_type": f.loan_type.value, "lead": f.model_dump(mode="json"), "lead_score": 31,
             "persona_name": persona.name, "broker_id": None, "owner": "bot", "status": "pending",
             "created_at": now, "last_activity_at": now} for f, b, c in zip(forms, inbox_ids, contacts, strict=True)])
        greetings = await insert(session, InboxMessage, [
            {"conversation_id": b, "role": "bot", "private": False, "activity": False, "created_at": now,
             "content": greeting_for(persona, f.first_name, f.loan_type, f.property_type),
             "source_id": source_tag(c, greeting_key())}
            for f, b, c in zip(forms, inbox_ids, conversation_ids, strict=True)])
        await insert(session, ReplyLedgerEntry, [
            {"conversation_id": c, "key": greeting_key(), "state": "sent", "claim_token": "bench", "attempts": 1,
             "claimed_at": now, "completed_at": now, "sent_message_id": str(g)}
            for c, g in zip(conversation_ids, greetings, strict=True)])
        later = datetime.now(UTC)
        messages = await insert(session, InboxMessage, [
            {"conversation_id": b, "role": "customer", "private": False, "activity": False, "created_at": later,
             "content": question(i, 0), "source_id": f"client:{run}-{i}"} for i, b in enumerate(inbox_ids)])
        await insert(session, InboundMessage, [
            {"conversation_id": c, "message_id": str(m), "received_at": later, "queued_at": later}
            for c, m in zip(conversation_ids, messages, strict=True)])
    await engine.dispose()
    settings = Settings(_env_file=None, REDIS_URL=infra.redis_url, QUEUE_PREFIX=infra.prefix,  # type: ignore[call-arg]
                        QUEUE_NAME="aibroker")
    jobs = BullJobQueue(settings, infra.redis_url)
    queue = Queue("aibroker", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
    await queue.pause()
    for c, m in zip(conversation_ids, messages, strict=True):
        await jobs.enqueue(IncomingMessageJob(conversation_id=c, message_id=str(m), lead_score=31),
                           priority=queue_priority(31))
    await jobs.aclose()
    await queue.close()
    print(f"{len(conversation_ids)} greeted conversations with a queued message each, in "
          f"{time.monotonic() - t0:.1f} s (bulk)", flush=True)
    return (dict(enumerate(conversation_ids)), {c: str(m) for c, m in zip(conversation_ids, messages, strict=True)},
            {"setup_s": round(time.monotonic() - t0, 2)})


async def setup_api(args: argparse.Namespace, infra: Infra, base_url: str, run: str,
                    reader: DbReader) -> tuple[dict[int, int], dict[int, str], dict[str, float]]:
    """Open C conversations (greeted by the setup worker), then queue one message each on the paused queue."""
    conversations: dict[int, int] = {}
    tokens: dict[int, str] = {}  # each lead's conversation token: its customer routes need it
    posted: dict[int, str] = {}
    phases: dict[str, float] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    queue = Queue("aibroker", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def open_conversation(i: int) -> None:
            response = await client.post("/api/leads", json=lead(i, run, CONSERVATIVE_LEAD))
            response.raise_for_status()
            conversations[i] = response.json()["conversation_id"]
            tokens[i] = response.json()["conversation_token"]

        async def post_message(i: int) -> None:
            response = await client.post(f"/api/conversations/{conversations[i]}/messages",
                                         json={"content": question(i, 0), "client_message_id": f"{run}-{i}"},
                                         headers={"X-Conversation-Token": tokens[i]})
            if response.status_code == 202:
                posted[conversations[i]] = response.json()["message_id"]

        t0 = time.monotonic()
        await bounded(args.conversations, args.http_concurrency, open_conversation)
        greeted = await reader.wait_finished("greeting", len(conversations), args.timeout)
        phases["leads_and_greetings_s"] = round(time.monotonic() - t0, 2)
        print(f"{len(conversations)} conversations open, {greeted} greeted in {phases['leads_and_greetings_s']} s",
              flush=True)
        await queue.pause()
        t1 = time.monotonic()
        await bounded(len(conversations), args.http_concurrency, post_message)
        phases["post_messages_s"] = round(time.monotonic() - t1, 2)
    await queue.close()
    return conversations, posted, phases


async def hold(args: argparse.Namespace, infra: Infra, base_url: str, worker: Service, pids: dict[int, str],
               reader: DbReader, posted: dict[int, str]) -> dict[str, Any]:
    queue = Queue("aibroker", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
    await asyncio.sleep(2.0)  # the worker is up (heartbeat seen); let it settle on the paused queue
    rss_before = proc_status_kb(worker.pid, "VmRSS") or 0
    cpu_idle_start = cpu_seconds(worker.pid) or 0.0
    await asyncio.sleep(3.0)
    cpu_before = cpu_seconds(worker.pid) or 0.0
    idle_cores = (cpu_before - cpu_idle_start) / 3.0
    print(f"{len(posted)} messages waiting in the paused queue; worker RSS {rss_before / 1024:.1f} MB, "
          f"idle CPU {idle_cores:.2f} cores; resuming", flush=True)
    async with sampling(infra, base_url, reader, lambda: pids, interval_s=0.1, distinct_active=True) as samples:
        resumed = time.time()
        await queue.resume()
        answered = await reader.wait_finished("message:", len(posted), args.timeout, settle_s=1.0)
        waited = time.time() - resumed
    cpu_hold = (cpu_seconds(worker.pid) or 0.0) - cpu_before
    await queue.close()
    return {"samples": samples, "resumed": resumed, "answered": answered, "waited_s": waited,
            "rss_before_kb": rss_before, "idle_cores": idle_cores, "cpu_hold_s": cpu_hold,
            "rss_peak_kb": proc_status_kb(worker.pid, "VmHWM") or 0}


def analyse(args: argparse.Namespace, worker: Service, conversations: dict[int, int], posted: dict[int, str],
            phases: dict[str, float], held: dict[str, Any], ledger: list[dict[str, Any]],
            bot: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    samples, resumed = held["samples"], held["resumed"]
    by_key = {(r["conversation_id"], r["key"]): r for r in ledger}
    done = [by_key.get((c, f"message:{m}")) for c, m in posted.items()]
    replied = [r["sent_at"] for r in done if r and r["state"] == "sent" and r["sent_at"]]
    unanswered = sum(1 for r in done if r is None or r["state"] == "claimed")
    peaks = samples.as_dict()
    peak_active = peaks["queue_active_max"]
    rss_peak = max((kb for pid, kb in samples.rss_kb_max.items() if pid == worker.pid), default=0)
    started = [p for p in samples.series if p.get("active")]
    all_started_s = next((p["t"] for p in samples.series if p.get("active", 0) >= len(posted)), None)
    timed_out = held["answered"] < len(posted)
    return {
        "mode": {"conversations": args.conversations, "worker_concurrency": args.concurrency,
                 "reply_sla_ms": args.sla_ms, "persona": "conservative (6 s ±15 % delay, not clipped)",
                 "worker_processes": 1},
        "phases_s": {**phases, "hold_wait_s": round(held["waited_s"], 2), "timed_out": timed_out},
        "hold": {
            "peak_active_jobs": peak_active,
            "peak_active_list_entries": max((p.get("active_entries", 0) for p in samples.series), default=0),
            "peak_conversations_in_delay": peaks["typing_conversations_max"],
            "peak_active_jobs_heartbeat": peaks["heartbeat_active_jobs_max"],
            "all_jobs_active_after_s": all_started_s,
            "first_job_active_after_s": started[0]["t"] if started else None,
            "completion_s": round(max(replied) - resumed, 2) if replied and not timed_out else None,
            "answered": len(replied),
            "reply_after_resume_ms": summarize((t - resumed) * 1000 for t in replied),
            "ideal_completion_s": 6.9,
        },
        "worker_memory_mb": {"rss_idle": round(held["rss_before_kb"] / 1024, 1),
                             "rss_peak_sampled": round(rss_peak / 1024, 1),
                             "rss_peak_vmhwm": round(held["rss_peak_kb"] / 1024, 1),
                             "per_held_conversation_kb": round((rss_peak - held["rss_before_kb"]) / max(peak_active, 1),
                                                               1)},
        "worker_cpu": {"idle_on_paused_queue_cores": round(held["idle_cores"], 2),
                       "during_hold_s": round(held["cpu_hold_s"], 1),
                       "during_hold_cores": round(held["cpu_hold_s"] / held["waited_s"], 2)
                       if held["waited_s"] else None,
                       "per_reply_ms": round(held["cpu_hold_s"] / len(replied) * 1000, 1) if replied else None},
        "correctness": {"messages_posted": len(posted), "answered": len(replied),
                        "unanswered_at_end": unanswered, "lost": None if timed_out else unanswered,
                        **audit_replies(ledger, bot)},
        "concurrency": peaks,
        "series": samples.series[:: max(1, len(samples.series) // 300)],
    }


async def drive(args: argparse.Namespace, infra: Infra, env: dict[str, str], base_url: str, api: Service,
                setup_worker: Service | None) -> tuple[dict[str, Any], Service]:
    run = uuid.uuid4().hex[:6]
    reader = DbReader(infra.database_url)
    if setup_worker is None:
        conversations, posted, phases = await setup_bulk(args, infra, env, run)
    else:
        conversations, posted, phases = await setup_api(args, infra, base_url, run, reader)
        setup_worker.stop()
    worker = start_worker_process(infra, {**env, "WORKER_CONCURRENCY": str(args.concurrency)}, 1)
    await asyncio.to_thread(wait_worker_heartbeat, base_url)
    pids = infra.pids(api=api, worker=worker)
    print("processes: " + ", ".join(f"{label} {pid}" for pid, label in pids.items()), flush=True)
    held = await hold(args, infra, base_url, worker, pids, reader, posted)
    ledger = await reader.ledger(list(conversations.values()))
    bot = await reader.bot_messages(list(conversations.values()))
    await reader.aclose()
    result = analyse(args, worker, conversations, posted, phases, held, ledger, bot)
    result["bullmq_jobs"] = job_stats(infra.redis_url, infra.prefix,
                                      [IncomingMessageJob(conversation_id=c, message_id=m).job_id
                                       for c, m in posted.items()])
    return result, worker


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("hold", args)
    with infrastructure(args, "hold") as infra:
        env = infra.env(PACING_ENABLED=True, WORKER_CONCURRENCY=args.setup_concurrency, REPLY_SLA_MS=args.sla_ms)
        api, base_url = start_api(infra, env)
        setup_worker = None
        if args.setup == "api":
            setup_worker = start_worker_process(infra, env)
            wait_worker_heartbeat(base_url)
        result, worker = asyncio.run(drive(args, infra, env, base_url, api, setup_worker))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
        if not worker.alive():
            result["warnings"] = [f"worker exited early: {worker.log_tail(800)}"]
    h, m, cpu, c = result["hold"], result["worker_memory_mb"], result["worker_cpu"], result["correctness"]
    show("hold: one worker, thousands of conversations in their delay", {
        "conversations / WORKER_CONCURRENCY": f"{args.conversations} / {args.concurrency}",
        "peak active jobs (distinct ids)": f"{h['peak_active_jobs']} "
                                           f"(all active after {h['all_jobs_active_after_s']} s)",
        "peak conversations in delay (typing)": h["peak_conversations_in_delay"],
        "answered": f"{h['answered']} of {c['messages_posted']}"
                    + (" (timed out)" if result["phases_s"]["timed_out"] else ""),
        "completion (resume → last reply)": f"{h['completion_s']} s (ideal ≈ {h['ideal_completion_s']} s)",
        "reply after resume": fmt(h["reply_after_resume_ms"]),
        "worker RSS idle → peak": f"{m['rss_idle']} → {m['rss_peak_sampled']} MB "
                                  f"({m['per_held_conversation_kb']} KB per held conversation)",
        "worker CPU": f"idle on the paused queue {cpu['idle_on_paused_queue_cores']} cores; during the hold "
                      f"{cpu['during_hold_s']} s = {cpu['during_hold_cores']} cores, "
                      f"{cpu['per_reply_ms']} ms per reply",
        "duplicates / lost": f"{c['duplicates']} / {'unknown (timed out)' if c['lost'] is None else c['lost']} "
                             f"(unanswered at the end: {c['unanswered_at_end']})",
        "BullMQ: jobs run more than once": f"{result['bullmq_jobs']['started_more_than_once']} "
                                           f"(stalled: {result['bullmq_jobs']['stalled']})",
        "setup (s)": result["phases_s"],
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
    })
    path = write_results(args.results_dir, "hold", result, args.tag)
    print(f"\nresults: {rel(path)}")
    if c["duplicates"] or c["lost"]:
        return 1
    return 2 if c["lost"] is None else 0  # 2: timed out, so "lost" could not be told from "late"


if __name__ == "__main__":
    raise SystemExit(main())
