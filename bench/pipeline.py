"""Reply latency and throughput through the built-in inbox, pacing on: customer message → reply (1, 2, 4 workers).

    .venv/bin/python -m bench.pipeline                     # 100 messages/s for 20 s, pacing on, one worker
    .venv/bin/python -m bench.pipeline --workers 1,2,4     # the same load against 1, 2 and 4 worker processes
    .venv/bin/python -m bench.pipeline --pacing off        # pure system overhead

The API (`aibroker serve`) and the workers (`aibroker worker`) run as OS processes on a private Redis and
a fresh SQLite file (or `--redis-url` / `--database-url`). C greeted conversations are written straight into
the database (`--setup bulk`, `bench.seed`: the intake is not what is measured) or opened through
`POST /api/leads` and greeted by the workers (`--setup api`, which also measures the greeting latency). Then
R × duration customer messages arrive round-robin over the conversations at R messages/s (open loop: the driver
never waits for a reply before sending the next message): written by the driver itself as the API would
(`--intake direct`, `bench.seed.DirectIntake`, a batch every 50 ms), or posted to
`POST /api/conversations/{id}/messages` (`--intake api`: one API process costs ~20 ms of CPU per message, so it
cannot take 100/s here; see bench/README.md). With C=1000 at 100/s each conversation gets a message every
10 s, longer than a paced reply (≤ 4.4 s at REPLY_SLA_MS=5000), so replies rarely overlap. Several worker counts
(`--workers 1,2,4`) run one after the other, each on a fresh system, with one result file for all.

The driver must not be the bottleneck: it records how late each message was sent against its schedule
(`send_lag`), how long its acknowledgement took (`post_ack`: the API's answer, or the batch's write) and the API's
and its own CPU, so a capped intake shows up as such rather than as slow replies.

Latency of a message = the reply's `inbox_messages.created_at` (stamped by the worker as it inserts the
visible reply) − the wall-clock time the driver started the POST (direct: the batch's write). Both clocks are
this machine's. Replies are read from the database once the run is over, not by polling
`GET /api/conversations/{id}/messages`, so no poller competes with the system or rounds the figures up to its
interval; while the load runs the driver only counts finished ledger rows (one COUNT every 0.25 s) and samples
the queue's active list, the typing flags and `GET /api/worker/status` (once a second).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import suppress
from typing import Any

import httpx

from aibroker.bootstrap import EXPECTED_GENERATION_MS
from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from aibroker.domain.pacing import DEFAULT_PACING, ReplyPacer
from aibroker.domain.personas import PersonaType
from bench.common import (
    add_infra_args,
    fmt,
    header,
    load_average,
    paced,
    post_leads,
    question,
    rel,
    show,
    summarize,
    write_results,
)
from bench.observe import DbReader, audit_replies, job_stats, sampling, wall_ms
from bench.seed import DirectIntake, DirectMessage, seed_greeted
from bench.system import Infra, infrastructure, start_api, start_worker_process, wait_worker_heartbeat

SLA_MS = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pacing", choices=["on", "off"], default="on",
                        help="on: human-like delays clipped to the SLA; off: no waits (default: %(default)s)")
    parser.add_argument("--conversations", type=int, default=1000, help="C, conversations (default: %(default)s)")
    parser.add_argument("--setup", choices=["bulk", "api"], default="bulk",
                        help="bulk: greeted conversations written to the database; api: POST /api/leads and "
                             "greetings by the workers (default: %(default)s)")
    parser.add_argument("--intake", choices=["direct", "api"], default="direct",
                        help="direct: the driver writes each message and its job as the API would (bench.seed), in "
                             "a batch every 50 ms; api: POST /api/conversations/{id}/messages (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="R, customer messages per second (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of load: R × duration messages (default: %(default)s)")
    parser.add_argument("--workers", default="1",
                        help="worker processes; a list (1,2,4) runs the load once per count (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, help="WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--sla-ms", type=int, default=SLA_MS, help="REPLY_SLA_MS (default: %(default)s)")
    parser.add_argument("--lead-concurrency", type=int, default=8,
                        help="lead forms in flight while opening conversations (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for the last greeting / reply after the load (default: 60 + "
                             "messages / 10, i.e. at least 10 replies/s)")
    add_infra_args(parser)
    args = parser.parse_args(argv)
    try:
        args.worker_counts = [int(n) for n in str(args.workers).split(",")]
    except ValueError:
        parser.error("--workers: a count or a list of counts, e.g. 1,2,4")
    args.messages = round(args.rate * args.duration)
    if args.conversations < 1 or args.rate <= 0 or args.duration <= 0 or min(args.worker_counts) < 1:
        parser.error("need --conversations >= 1, --rate > 0, --duration > 0, --workers >= 1")
    if args.intake == "direct" and args.setup != "bulk":
        parser.error("--intake direct needs --setup bulk (it writes into the seeded conversations)")
    if args.timeout is None:
        args.timeout = 60 + args.messages / 10
    return args


async def open_conversations(args: argparse.Namespace, infra: Infra, client: httpx.AsyncClient, reader: DbReader,
                             run: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """C greeted conversations, in lead order: {i, conversation_id, token, persona[, t_post, ack_ms]}."""
    t0 = time.monotonic()
    if args.setup == "bulk":
        seeded = await seed_greeted(infra.database_url, args.conversations, run)
        leads = [{"i": i, "conversation_id": c, "token": t, "persona": p, "inbox_id": b, "score": s}
                 for i, (c, t, p, b, s) in enumerate(zip(seeded.conversations, seeded.tokens, seeded.persona_types,
                                                         seeded.inbox_ids, seeded.lead_scores, strict=True))]
        return leads, {"seed_conversations_s": round(time.monotonic() - t0, 2)}
    leads = [{"i": p.i, "conversation_id": p.body["conversation_id"], "token": p.body["conversation_token"],
              "t_post": p.t_post, "ack_ms": p.ack_ms, "persona": p.body["broker"]["persona_type"]}
             for p in await post_leads(client, args.conversations, run, concurrency=args.lead_concurrency)]
    leads_s = time.monotonic() - t0
    earlier = await reader.finished_count("greeting")  # (a given database may hold an earlier run's rows)
    greeted = await reader.wait_finished("greeting", len(leads) + earlier, args.timeout) - earlier
    return leads, {"open_conversations_s": round(leads_s, 2), "greeting_phase_s": round(time.monotonic() - t0, 2),
                   "greeted_at_end_of_wait": greeted}


async def drive(args: argparse.Namespace, workers: int, infra: Infra, base_url: str, pids: dict[int, str]
                ) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    reader = DbReader(infra.database_url, infra.redis_url, infra.prefix)
    posts: list[dict[str, Any]] = []
    # Enough connections that a slow acknowledgement (up to a few seconds under load) never holds a POST back.
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client, \
            sampling(infra, base_url, reader, lambda: pids) as samples:
        leads, phases = await open_conversations(args, infra, client, reader, run)
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

        pacer = ReplyPacer(DEFAULT_PACING, EXPECTED_GENERATION_MS["offline"], args.sla_ms) \
            if args.pacing == "on" else None
        intake = DirectIntake(infra.database_url, infra.redis_url, infra.prefix, pacer) \
            if args.intake == "direct" else None
        batch: list[tuple[int, float]] = []

        async def queue_direct(i: int, scheduled: float) -> None:  # written by `flush_direct`, 20 times a second
            batch.append((i, scheduled))

        async def flush_direct() -> None:
            assert intake is not None
            taken = batch[:]
            del batch[:len(taken)]
            if not taken:
                return
            t_post = time.time()
            indexes = [i % len(conversations) for i, _ in taken]
            ids = await intake.post([DirectMessage(conversations[x], leads[x]["inbox_id"], leads[x]["score"],
                                                   PersonaType(leads[x]["persona"]),
                                                   question(x, i // len(conversations)))
                                     for x, (i, _) in zip(indexes, taken, strict=True)])
            ack_ms = (time.time() - t_post) * 1000
            posts.extend({"i": i, "conversation_id": conversations[x], "scheduled": scheduled, "t_post": t_post,
                          "status": 202, "message_id": m, "ack_ms": ack_ms}
                         for x, (i, scheduled), m in zip(indexes, taken, ids, strict=True))

        async def keep_flushing(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await flush_direct()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
            await flush_direct()

        earlier = await reader.finished_count("message:")
        cpu_before = dict(samples.cpu_s)
        t1 = time.monotonic()
        if intake is None:
            send_s = await paced(args.messages, args.rate, send)
        else:
            sent = asyncio.Event()
            flusher = asyncio.create_task(keep_flushing(sent))
            send_s = await paced(args.messages, args.rate, queue_direct)
            sent.set()
            await flusher
            send_s = time.monotonic() - t1
            await intake.aclose()
        accepted = [p for p in posts if p.get("message_id")]
        deadline = time.monotonic() + args.timeout
        # (A given database may hold an earlier run's rows: `--workers 1,2,4` reuses it.)
        await reader.wait_finished("message:", len(accepted) + earlier, args.timeout, settle_s=1.0)
        # A POST the client gave up on may still have been accepted, and its reply counted above: wait for ours.
        keys = {(p["conversation_id"], f"message:{p['message_id']}") for p in accepted}
        while True:
            answered = await finished_of(reader, conversations, keys)
            if answered >= len(keys) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(2.0)
        phases.update({"send_s": round(send_s, 2), "message_phase_s": round(time.monotonic() - t1, 2),
                       "answered_at_end_of_wait": answered})

    ledger = await reader.ledger(conversations)
    bot = await reader.bot_messages(conversations)
    await reader.aclose()
    jobs = job_stats(infra.redis_url, infra.prefix,
                     [NewConversationJob(conversation_id=c).job_id for c in conversations]
                     + [IncomingMessageJob(conversation_id=p["conversation_id"], message_id=p["message_id"]).job_id
                        for p in posts if p.get("message_id")])
    peaks = samples.as_dict()
    peaks["cpu_s_message_phase"] = {f"{samples.names.get(pid, 'pid')}:{pid}": round(s - cpu_before.get(pid, 0.0), 1)
                                    for pid, s in samples.cpu_s.items()}
    result = analyse(args, workers, leads, posts, ledger, bot, peaks, samples.series, phases)
    result["bullmq_jobs"] = jobs
    return result


async def finished_of(reader: DbReader, conversations: list[int], keys: set[tuple[int, str]]) -> int:
    """How many of these (conversation, ledger key) are sent or skipped."""
    return sum(1 for row in await reader.ledger(conversations)
               if (row["conversation_id"], row["key"]) in keys and row["state"] != "claimed")


def steady_state(ledger: list[dict[str, Any]], start: float | None, end: float | None) -> dict[str, Any]:
    """Replies (and messages answered) per second between `start`, when the first message's SLA has run out (a
    worker keeping up then answers at the rate offered, each reply a human-like delay after its message), and
    `end`, when the last message was posted: the rate the worker sustained. `replies_per_s` over the whole run
    also counts the first delays and the last ones, when there is less to answer: at 100 messages/s for 20 s, a
    worker answering each on time shows ~83 there."""
    if start is None or end is None or end <= start:
        return {"sustained_replies_per_s": None, "sustained_messages_per_s": None, "sustained_window_s": None}
    sent = [row for row in ledger if row["key"].startswith("message:") and row["state"] == "sent" and row["sent_at"]]
    replies = {(row["conversation_id"], row["sent_message_id"]): row["sent_at"] for row in sent}
    return {"sustained_replies_per_s": round(sum(start <= t <= end for t in replies.values()) / (end - start), 2),
            "sustained_messages_per_s": round(sum(start <= row["sent_at"] <= end for row in sent) / (end - start), 2),
            "sustained_window_s": round(end - start, 2)}


def analyse(args: argparse.Namespace, workers: int, leads: list[dict[str, Any]], posts: list[dict[str, Any]],
            ledger: list[dict[str, Any]], bot: dict[int, list[dict[str, Any]]], peaks: dict[str, Any],
            series: list[dict[str, Any]], phases: dict[str, Any]) -> dict[str, Any]:
    by_key = {(row["conversation_id"], row["key"]): row for row in ledger}
    greeting_ms = [wall_ms(by_key[(item["conversation_id"], "greeting")]["sent_at"], item["t_post"])
                   for item in leads if "t_post" in item and (item["conversation_id"], "greeting") in by_key]
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
    last_post = max((p["t_post"] for p in accepted), default=None)
    steady = steady_state(ledger, first_post + args.sla_ms / 1000 if first_post else None, last_post)
    distinct_replies = len({(r["conversation_id"], r["sent_message_id"]) for r in ledger
                            if r["key"].startswith("message:") and r["state"] == "sent"})
    audit = audit_replies(ledger, bot)
    latency = summarize(latencies)
    worker_cpu_s = sum(v for k, v in peaks["cpu_s"].items() if k.startswith("worker"))
    phase_cpu = peaks["cpu_s_message_phase"]
    worker_phase_s = sum(v for k, v in phase_cpu.items() if k.startswith("worker"))
    api_phase_s = sum(v for k, v in phase_cpu.items() if k.startswith("api"))
    driver_phase_s = sum(v for k, v in phase_cpu.items() if k.startswith("driver"))
    jobs_run = (len(leads) if args.setup == "api" else 0) + len(accepted)
    personas: dict[str, int] = {}
    for item in leads:
        personas[item["persona"]] = personas.get(item["persona"], 0) + 1
    return {
        "mode": {"pacing": args.pacing, "conversations": args.conversations, "messages": args.messages,
                 "offered_rate_per_s": args.rate, "duration_s": args.duration, "workers": workers,
                 "worker_concurrency": args.concurrency, "setup": args.setup, "intake": args.intake,
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
                       "window_s": round(window_s, 2) if window_s else None,
                       **steady},
        "post_ack_ms": summarize(p["ack_ms"] for p in posts),
        "send_lag_ms": summarize((p["t_post"] - p["scheduled"]) * 1000 for p in posts),
        "intake": {"accepted_per_s": round(len(accepted) / phases["send_s"], 1) if phases["send_s"] else None,
                   "api_cpu_ms_per_message": round(api_phase_s / len(posts) * 1000, 1) if posts else None,
                   "driver_cpu_ms_per_message": round(driver_phase_s / len(posts) * 1000, 1) if posts else None},
        "lead_ack_ms": summarize(item["ack_ms"] for item in leads if "ack_ms" in item),
        "correctness": {"messages_posted": len(posts), "accepted": len(accepted),
                        "post_errors": len(posts) - len(accepted), "answered": len(latencies),
                        "unanswered_at_end": unanswered, "timed_out": timed_out,
                        "lost": None if timed_out else unanswered,
                        "burst_joined": joined, "distinct_replies": distinct_replies, **audit},
        "concurrency": peaks,
        "worker_cpu": {"seconds": round(worker_cpu_s, 1), "jobs": jobs_run,
                       "ms_per_job": round(worker_cpu_s / jobs_run * 1000, 1) if jobs_run else None,
                       "message_phase_s": round(worker_phase_s, 1),
                       "ms_per_reply": round(worker_phase_s / distinct_replies * 1000, 1)
                       if distinct_replies else None},
        "series": series[:: max(1, len(series) // 240)],
    }


def report(result: dict[str, Any]) -> None:
    c, mode, intake = result["correctness"], result["mode"], result["intake"]
    show(f"pipeline, pacing {mode['pacing']}, {mode['workers']} worker process(es)", {
        "conversations / messages / rate": f"{mode['conversations']} / {mode['messages']} / "
                                           f"{mode['offered_rate_per_s']} per s",
        "greeting latency": fmt(result["greeting_latency_ms"]) if mode["setup"] == "api" else "(bulk setup)",
        "reply latency": fmt(result["reply_latency_ms"]),
        "P95 vs SLA": f"{result['sla']['p95_ms']} ms vs {result['sla']['budget_ms']} ms → "
                      f"{'within' if result['sla']['within_sla'] else 'BREACHED'}",
        "throughput": f"{result['throughput']['replies_per_s']} replies/s "
                      f"({result['throughput']['messages_answered_per_s']} messages answered/s)",
        "sustained (first SLA to last post)": f"{result['throughput']['sustained_replies_per_s']} replies/s "
                                              f"({result['throughput']['sustained_messages_per_s']} messages "
                                              f"answered/s, over {result['throughput']['sustained_window_s']} s)",
        f"intake ({mode['intake']})": f"{intake['accepted_per_s']} accepted/s; start lag "
                                      f"p95 {result['send_lag_ms']['p95']} ms; ack {fmt(result['post_ack_ms'])}",
        "intake CPU per message": f"API {intake['api_cpu_ms_per_message']} ms, "
                                  f"driver {intake['driver_cpu_ms_per_message']} ms",
        "duplicates / lost": f"{c['duplicates']} / {'unknown (timed out)' if c['lost'] is None else c['lost']} "
                             f"(unanswered at the end {c['unanswered_at_end']}, post errors {c['post_errors']}, "
                             f"burst-joined {c['burst_joined']}, handoffs {c['handoffs']})",
        "BullMQ: most starts of a job": f"{result['bullmq_jobs']['max_starts']} (a paced reply starts once; "
                                        f"stalled: {result['bullmq_jobs']['stalled']})",
        "peak active jobs (queue / heartbeat)": f"{result['concurrency']['queue_active_max']} / "
                                                f"{result['concurrency']['heartbeat_active_jobs_max']}",
        "peak conversations typing": result["concurrency"]["typing_conversations_max"],
        "worker CPU per reply": f"{result['worker_cpu']['ms_per_reply']} ms ({result['worker_cpu']['message_phase_s']}"
                                f" s during the messages, all workers)",
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
        "phases (s)": result["phases_s"],
    })


def run_once(args: argparse.Namespace, workers: int, name: str) -> dict[str, Any]:
    """The whole load against `workers` worker processes, on a system of its own."""
    head = header(name, args)
    with infrastructure(args, name) as infra:
        env = infra.env(PACING_ENABLED=args.pacing == "on", WORKER_CONCURRENCY=args.concurrency,
                        REPLY_SLA_MS=args.sla_ms)
        api, base_url = start_api(infra, env)
        processes = [start_worker_process(infra, env, i) for i in range(workers)]
        wait_worker_heartbeat(base_url, workers)
        pids = infra.pids(api=api, **{f"worker{i}": w for i, w in enumerate(processes)})
        print("processes: " + ", ".join(f"{label} {pid}" for pid, label in pids.items()), flush=True)
        result = asyncio.run(drive(args, workers, infra, base_url, pids))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
        for process in (*processes, api):
            if not process.alive():
                result.setdefault("warnings", []).append(f"{process.command} exited early: {process.log_tail(500)}")
    report(result)
    return result


def side_by_side(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["mode"]["workers"]): {
        "replies_per_s": r["throughput"]["replies_per_s"], "reply_p50_ms": r["reply_latency_ms"]["p50"],
        "reply_p95_ms": r["reply_latency_ms"]["p95"], "worker_cpu_ms_per_reply": r["worker_cpu"]["ms_per_reply"],
        "answered": r["correctness"]["answered"], "accepted": r["correctness"]["accepted"],
        "duplicates": r["correctness"]["duplicates"], "lost": r["correctness"]["lost"],
        "load_average_at_start": r["load_average_at_start"]} for r in runs}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"pipeline-pacing-{args.pacing}"
    if len(args.worker_counts) == 1:
        result = run_once(args, args.worker_counts[0], name)
        runs = [result]
    else:
        name += "-workers-" + "-".join(map(str, args.worker_counts))
        head = header(name, args)
        runs = [run_once(args, n, name) for n in args.worker_counts]
        result = {**head, "load_average_at_end": load_average(), "side_by_side": side_by_side(runs), "runs": runs}
        show("side by side (same load)", {f"{n} worker(s)": f"{row['replies_per_s']} replies/s, P95 "
                                          f"{row['reply_p95_ms']} ms, {row['worker_cpu_ms_per_reply']} ms worker "
                                          f"CPU per reply, answered {row['answered']} of {row['accepted']}"
                                          for n, row in result["side_by_side"].items()})
    path = write_results(args.results_dir, name, result, args.tag)
    print(f"\nresults: {rel(path)}")
    if any(r["correctness"]["duplicates"] or r["correctness"]["lost"] for r in runs):
        return 1
    return 2 if any(r["correctness"]["lost"] is None for r in runs) else 0  # 2: timed out (lost vs late unknown)


if __name__ == "__main__":
    raise SystemExit(main())
