"""End-to-end reply latency through the built-in inbox: lead form → greeting; customer message → reply.

    .venv/bin/python -m bench.pipeline                 # pacing on: the human-like delays, SLA-clipped
    .venv/bin/python -m bench.pipeline --pacing off    # pure system overhead

The API (`aibroker serve`) and the workers (`aibroker worker`) run as OS processes on a private Redis and
a fresh SQLite file (or `--redis-url` / `--database-url`). The driver opens C conversations through
`POST /api/leads`, waits for every greeting, then posts M customer messages round-robin over the
conversations at R messages/s (open loop: it never waits for a reply before sending the next message).

Latency of a message = the reply's `inbox_messages.created_at` (stamped by the worker as it inserts the
visible reply) − the wall-clock time the driver started the POST. Both clocks are this machine's. Replies
are read from the database once the run is over, not by polling `GET /api/conversations/{id}/messages`, so
no poller competes with the system or rounds the figures up to its interval; while the load runs the
driver only counts finished ledger rows (one COUNT every 0.25 s) and samples the queue's active list,
the typing flags and `GET /api/worker/status` (once a second).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import httpx

from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from bench.common import (
    add_infra_args,
    bounded,
    fmt,
    header,
    lead,
    load_average,
    paced,
    question,
    rel,
    show,
    summarize,
    write_results,
)
from bench.observe import DbReader, audit_replies, job_stats, sampling, wall_ms
from bench.system import Infra, infrastructure, start_api, start_worker_process, wait_worker_heartbeat

SLA_MS = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pacing", choices=["on", "off"], default="on",
                        help="on: human-like delays clipped to the SLA; off: no waits (default: %(default)s)")
    parser.add_argument("--conversations", type=int, default=100, help="C, leads to open (default: %(default)s)")
    parser.add_argument("--messages", type=int, default=500, help="M, customer messages (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="R, customer messages per second, 0 = all at once (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, help="WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--sla-ms", type=int, default=SLA_MS, help="REPLY_SLA_MS (default: %(default)s)")
    parser.add_argument("--lead-concurrency", type=int, default=8,
                        help="lead forms in flight while opening conversations (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the last greeting / reply (default: %(default)s)")
    add_infra_args(parser)
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.messages < 0 or args.rate < 0:
        parser.error("need --conversations >= 1, --messages >= 0, --rate >= 0")
    return args


async def drive(args: argparse.Namespace, infra: Infra, base_url: str, pids: dict[int, str]) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    reader = DbReader(infra.database_url)
    leads: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client, \
            sampling(infra, base_url, reader, lambda: pids) as samples:

        async def open_conversation(i: int) -> None:
            t_post = time.time()
            response = await client.post("/api/leads", json=lead(i, run))
            response.raise_for_status()
            body = response.json()
            leads.append({"i": i, "conversation_id": body["conversation_id"], "token": body["conversation_token"],
                          "t_post": t_post,
                          "ack_ms": (time.time() - t_post) * 1000, "persona": body["broker"]["persona_type"]})

        t0 = time.monotonic()
        await bounded(args.conversations, args.lead_concurrency, open_conversation)
        leads_s = time.monotonic() - t0
        greeted = await reader.wait_finished("greeting", len(leads), args.timeout)
        greet_phase_s = time.monotonic() - t0
        leads.sort(key=lambda item: item["i"])
        conversations = [item["conversation_id"] for item in leads]
        tokens = [{"X-Conversation-Token": item.pop("token")} for item in leads]  # kept out of the results file

        async def send(i: int, scheduled: float) -> None:
            index = i % len(conversations)
            record: dict[str, Any] = {"i": i, "conversation_id": conversations[index], "scheduled": scheduled}
            record["t_post"] = time.time()
            try:
                response = await client.post(f"/api/conversations/{conversations[index]}/messages",
                                             json={"content": question(index, i // len(conversations)),
                                                   "client_message_id": f"{run}-{i}"},
                                             headers=tokens[index])
                record["status"] = response.status_code
                if response.status_code == 202:
                    record["message_id"] = response.json()["message_id"]
            except httpx.HTTPError as error:
                record["status"] = type(error).__name__
            record["ack_ms"] = (time.time() - record["t_post"]) * 1000
            posts.append(record)

        t1 = time.monotonic()
        send_s = await paced(args.messages, args.rate, send)
        accepted = [p for p in posts if p.get("message_id")]
        answered = await reader.wait_finished("message:", len(accepted), args.timeout, settle_s=1.0)
        message_phase_s = time.monotonic() - t1

    ledger = await reader.ledger(conversations)
    bot = await reader.bot_messages(conversations)
    await reader.aclose()
    jobs = job_stats(infra.redis_url, infra.prefix,
                     [NewConversationJob(conversation_id=c).job_id for c in conversations]
                     + [IncomingMessageJob(conversation_id=p["conversation_id"], message_id=p["message_id"]).job_id
                        for p in posts if p.get("message_id")])
    result = analyse(args, leads, posts, ledger, bot, samples.as_dict(), samples.series, {
        "open_conversations_s": round(leads_s, 2), "greeting_phase_s": round(greet_phase_s, 2),
        "send_s": round(send_s, 2), "message_phase_s": round(message_phase_s, 2),
        "greeted_at_end_of_wait": greeted, "answered_at_end_of_wait": answered})
    result["bullmq_jobs"] = jobs
    return result


def analyse(args: argparse.Namespace, leads: list[dict[str, Any]], posts: list[dict[str, Any]],
            ledger: list[dict[str, Any]], bot: dict[int, list[dict[str, Any]]], peaks: dict[str, Any],
            series: list[dict[str, Any]], phases: dict[str, Any]) -> dict[str, Any]:
    by_key = {(row["conversation_id"], row["key"]): row for row in ledger}
    greeting_ms = [wall_ms(by_key[(item["conversation_id"], "greeting")]["sent_at"], item["t_post"])
                   for item in leads if (item["conversation_id"], "greeting") in by_key]
    latencies: list[float] = []
    unanswered = 0
    timed_out = phases["answered_at_end_of_wait"] < len([p for p in posts if p.get("message_id")])
    joined = 0
    reply_times: list[float] = []
    accepted = [p for p in posts if p.get("message_id")]
    for post in accepted:
        row = by_key.get((post["conversation_id"], f"message:{post['message_id']}"))
        if row is None or row["state"] == "claimed" or (row["state"] == "sent" and row["sent_at"] is None):
            unanswered += 1
            continue
        if row["reply_key"]:
            joined += 1
        if row["state"] == "sent" and row["sent_at"] is not None:
            latencies.append((row["sent_at"] - post["t_post"]) * 1000)
            reply_times.append(row["sent_at"])
    first_post = min((p["t_post"] for p in accepted), default=None)
    last_reply = max(reply_times, default=None)
    window_s = (last_reply - first_post) if first_post and last_reply else None
    distinct_replies = len({(r["conversation_id"], r["sent_message_id"]) for r in ledger
                            if r["key"].startswith("message:") and r["state"] == "sent"})
    audit = audit_replies(ledger, bot)
    latency = summarize(latencies)
    worker_cpu_s = sum(v for k, v in peaks["cpu_s"].items() if k.startswith("worker"))
    jobs_run = len(leads) + len(accepted)
    personas: dict[str, int] = {}
    for item in leads:
        personas[item["persona"]] = personas.get(item["persona"], 0) + 1
    return {
        "mode": {"pacing": args.pacing, "conversations": args.conversations, "messages": args.messages,
                 "offered_rate_per_s": args.rate, "workers": args.workers, "worker_concurrency": args.concurrency,
                 "reply_sla_ms": args.sla_ms, "personas": personas,
                 "measured_from": "driver's POST start (wall clock) to the reply row's created_at in the database"},
        "phases_s": phases,
        "greeting_latency_ms": summarize(x for x in greeting_ms if x is not None),
        "reply_latency_ms": latency,
        "sla": {"p95_ms": latency["p95"], "budget_ms": args.sla_ms,
                "within_sla": latency["p95"] is not None and latency["p95"] < args.sla_ms,
                "over_budget_share": round(sum(1 for x in latencies if x >= args.sla_ms) / len(latencies), 4)
                if latencies else None},
        "throughput": {"replies_per_s": round(distinct_replies / window_s, 2) if window_s else None,
                       "messages_answered_per_s": round(len(latencies) / window_s, 2) if window_s else None,
                       "window_s": round(window_s, 2) if window_s else None},
        "post_ack_ms": summarize(p["ack_ms"] for p in posts),
        "send_lag_ms": summarize((p["t_post"] - p["scheduled"]) * 1000 for p in posts),
        "lead_ack_ms": summarize(item["ack_ms"] for item in leads),
        "correctness": {"messages_posted": len(posts), "accepted": len(accepted),
                        "post_errors": len(posts) - len(accepted), "answered": len(latencies),
                        "unanswered_at_end": unanswered, "timed_out": timed_out,
                        "lost": None if timed_out else unanswered,
                        "burst_joined": joined, "distinct_replies": distinct_replies, **audit},
        "concurrency": peaks,
        "worker_cpu": {"seconds": round(worker_cpu_s, 1), "jobs": jobs_run,
                       "ms_per_job": round(worker_cpu_s / jobs_run * 1000, 1) if jobs_run else None},
        "series": series[:: max(1, len(series) // 240)],
    }


def report(result: dict[str, Any]) -> None:
    c = result["correctness"]
    show(f"pipeline, pacing {result['mode']['pacing']}", {
        "conversations / messages / rate": f"{result['mode']['conversations']} / {result['mode']['messages']} / "
                                           f"{result['mode']['offered_rate_per_s']} per s",
        "greeting latency": fmt(result["greeting_latency_ms"]),
        "reply latency": fmt(result["reply_latency_ms"]),
        "P95 vs SLA": f"{result['sla']['p95_ms']} ms vs {result['sla']['budget_ms']} ms → "
                      f"{'within' if result['sla']['within_sla'] else 'BREACHED'}",
        "throughput": f"{result['throughput']['replies_per_s']} replies/s "
                      f"({result['throughput']['messages_answered_per_s']} messages answered/s)",
        "POST ack": fmt(result["post_ack_ms"]),
        "duplicates / lost": f"{c['duplicates']} / {'unknown (timed out)' if c['lost'] is None else c['lost']} "
                             f"(unanswered at the end {c['unanswered_at_end']}, post errors {c['post_errors']}, "
                             f"burst-joined {c['burst_joined']}, handoffs {c['handoffs']})",
        "BullMQ: jobs run more than once": f"{result['bullmq_jobs']['started_more_than_once']} "
                                           f"(stalled: {result['bullmq_jobs']['stalled']})",
        "peak active jobs (queue / heartbeat)": f"{result['concurrency']['queue_active_max']} / "
                                                f"{result['concurrency']['heartbeat_active_jobs_max']}",
        "peak conversations typing": result["concurrency"]["typing_conversations_max"],
        "worker CPU per job": f"{result['worker_cpu']['ms_per_job']} ms "
                              f"({result['worker_cpu']['seconds']} s for {result['worker_cpu']['jobs']} jobs)",
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
        "phases (s)": result["phases_s"],
    })


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"pipeline-pacing-{args.pacing}"
    head = header(name, args)
    with infrastructure(args, name) as infra:
        env = infra.env(PACING_ENABLED=args.pacing == "on", WORKER_CONCURRENCY=args.concurrency,
                        REPLY_SLA_MS=args.sla_ms)
        api, base_url = start_api(infra, env)
        workers = [start_worker_process(infra, env, i) for i in range(args.workers)]
        wait_worker_heartbeat(base_url, args.workers)
        pids = infra.pids(api=api, **{f"worker{i}": w for i, w in enumerate(workers)})
        print("processes: " + ", ".join(f"{label} {pid}" for pid, label in pids.items()), flush=True)
        result = asyncio.run(drive(args, infra, base_url, pids))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
        for process in (*workers, api):
            if not process.alive():
                result.setdefault("warnings", []).append(f"{process.command} exited early: {process.log_tail(500)}")
    report(result)
    path = write_results(args.results_dir, name, result, args.tag)
    print(f"\nresults: {rel(path)}")
    c = result["correctness"]
    if c["duplicates"] or c["lost"]:
        return 1
    return 2 if c["lost"] is None else 0  # 2: timed out, so "lost" could not be told from "late"


if __name__ == "__main__":
    raise SystemExit(main())
