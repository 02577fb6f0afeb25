"""How fast the API acknowledges signed Chatwoot webhooks, open loop, with the API process alone.

    .venv/bin/python -m bench.webhook

Issue #15 item 3: "the API acknowledges signed webhooks with p99 ≤ 50 ms at 300 requests/s (open-loop, API
process alone)". The run:

1. The API (`aibroker serve`) configured for Chatwoot: CHATWOOT_* settings point at the fake Chatwoot of
   tests/fakes (in this process), with a webhook secret, so every webhook is verified as in production. No
   worker: jobs stay on the queue, where they are counted afterwards.
2. C conversations opened through the product's own intake (`POST /api/leads`, which creates them in the fake).
3. Open-loop load: `message_created` webhooks (a new customer message each, rendered like the fake's own
   webhooks, signed at send time) at R per second for a warm-up, then for the measured duration; a share of them
   are redeliveries (same body and delivery id, fresh signature, up to 2 s after the first), as Chatwoot
   retries. The client is raw asyncio streams on uvloop over keep-alive connections (a pool that grows when
   every connection is busy, so a slow API never slows the sending): no HTTP library in the way. Its
   send-time lateness (actual write − schedule) is reported, to show it really offered R/s.
4. After the run: every accepted message must have its row (`inbound_messages`, queued) and its BullMQ job.

Figures: ack latency (schedule → response fully read; also from the write) p50/p95/p99/max, statuses (every one
should be 2xx), outcomes (queued / duplicate), achieved rate, API CPU per request, client lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis as sync_redis
import uvloop
from sqlalchemy import func, select, text
from tests.fakes.fake_chatwoot import FakeChatwoot, encode_like_rails, running_fake_chatwoot, sign
from tests.support.chatwoot import WEBHOOK_PATH, chatwoot_env

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import InboundMessage
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob
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
from bench.system import (
    Infra,
    Service,
    cpu_seconds,
    infrastructure,
    proc_status_kb,
    process_tree,
    start_api,
    tree_cpu_seconds,
)

SECRET = "bench-webhook-secret"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300, help="webhooks per second, R (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds at R before measuring (default: %(default)s)")
    parser.add_argument("--conversations", type=int, default=100, help="C (default: %(default)s)")
    parser.add_argument("--duplicate-share", type=float, default=0.05,
                        help="share of deliveries that are redeliveries (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds after its schedule before a request "
                                                                  "counts as timed out (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=256, help="most keep-alive connections the client opens "
                                                                     "(default: %(default)s)")
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait afterwards for the API to finish "
                                                                  "the requests the client gave up on (default: "
                                                                  "%(default)s)")
    parser.add_argument("--api-processes", type=int, default=1, help="API_PROCESSES: the API's processes; CPU, RSS "
                                                                     "are summed over them (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=15, help="(default: %(default)s)")
    add_infra_args(parser)
    return parser.parse_args(argv)


# --- the deliveries ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Delivery:
    conversation_id: int  # ours
    message_id: str  # Chatwoot's
    delivery_id: str
    body: bytes
    redelivery: bool


def deliveries(cw: FakeChatwoot, inbox_ids: list[int], ours: dict[int, int], count: int, rate: float,
               duplicate_share: float, rng: random.Random) -> list[Delivery]:
    """`count` deliveries in sending order: new customer messages round-robin over the conversations, and
    redeliveries of a message sent up to 2 s (2·rate slots) earlier. Each body is the fake's own rendering of a
    `message_created` webhook for one real message of that conversation, with its id, content and time changed
    (rendering each from scratch costs the fake a scan of every message)."""
    templates: dict[int, dict[str, Any]] = {}
    for inbox_id in inbox_ids:
        message = cw.customer_says(inbox_id, "template")  # no webhook URL is set: nothing is sent
        templates[inbox_id] = cw.state.message_webhook(message)
    next_id = max(m.id for m in cw.state.messages.values()) + 1000
    turns: dict[int, int] = {}
    out: list[Delivery] = []
    for slot in range(count):
        window = out[max(0, slot - int(2 * rate)):]
        originals = [d for d in window if not d.redelivery]
        if originals and rng.random() < duplicate_share:
            first = rng.choice(originals)
            out.append(Delivery(first.conversation_id, first.message_id, first.delivery_id, first.body, True))
            continue
        index = slot % len(inbox_ids)
        inbox_id = inbox_ids[index]
        turn = turns[inbox_id] = turns.get(inbox_id, 0) + 1
        payload = copy.deepcopy(templates[inbox_id])
        now = time.time()
        payload.update(id=next_id, content=question(index, turn),
                       created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)))
        for nested in payload["conversation"].get("messages", []):
            nested.update(id=next_id, content=payload["content"], created_at=int(now))
        out.append(Delivery(ours[inbox_id], str(next_id), str(uuid.uuid4()), encode_like_rails(payload), False))
        next_id += 1
    return out


# --- the client ----------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    delivery: Delivery
    scheduled: float  # perf_counter
    started: float = 0.0  # the sending task began (its lateness is the client's own)
    written: float = 0.0  # the request was written (after waiting for a free connection, if all were busy)
    done: float = 0.0
    status: int | None = None
    body: str = ""
    error: str | None = None


@dataclass
class Client:
    """HTTP/1.1 over raw asyncio streams: a pool of keep-alive connections, one request at a time on each; a new
    connection whenever every open one is busy, up to `max_connections` (as Chatwoot's Sidekiq threads are a
    bounded pool), then requests wait for a free one. The wait counts in the latency (measured from the schedule)."""

    host: str
    port: int
    timeout_s: float
    max_connections: int
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    opened: int = 0
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_connections)

    def request(self, delivery: Delivery) -> bytes:
        stamp = str(int(time.time()))
        head = (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(delivery.body)}\r\n"
                f"X-Chatwoot-Delivery: {delivery.delivery_id}\r\nX-Chatwoot-Timestamp: {stamp}\r\n"
                f"X-Chatwoot-Signature: {sign(SECRET, stamp, delivery.body)}\r\n\r\n")
        return head.encode() + delivery.body

    async def send(self, outcome: Outcome) -> None:
        outcome.started = time.perf_counter()
        async with self.slots:
            await self._send(outcome)

    async def _send(self, outcome: Outcome) -> None:
        connection = None
        try:
            async with asyncio.timeout(max(0.001, outcome.scheduled + self.timeout_s - time.perf_counter())):
                if self.idle:
                    connection = self.idle.pop()
                else:
                    connection = await asyncio.open_connection(self.host, self.port)
                    self.opened += 1
                reader, writer = connection
                outcome.written = time.perf_counter()
                writer.write(self.request(outcome.delivery))
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                outcome.status = int(lines[0].split(" ", 2)[1])
                length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                               if line.lower().startswith("content-length:")), 0)
                outcome.body = (await reader.readexactly(length)).decode(errors="replace")
                outcome.done = time.perf_counter()
                keep = not any(line.lower() == "connection: close" for line in lines[1:])
            if keep:
                self.idle.append(connection)
            else:
                writer.close()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            outcome.error = type(error).__name__
            outcome.done = time.perf_counter()
            if connection is not None:
                connection[1].close()

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def offer(client: Client, plan: list[Delivery], rate: float) -> tuple[list[Outcome], float]:
    """Send `plan` open loop at `rate`/s (bench.common.paced); returns the outcomes and the achieved duration."""
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    wall = time.time()

    async def send(i: int, scheduled_wall: float) -> None:
        outcome = Outcome(plan[i], start + (scheduled_wall - wall))
        outcomes.append(outcome)
        await client.send(outcome)

    duration = await paced(len(plan), rate, send)
    return outcomes, duration


# --- the run -------------------------------------------------------------------------------------------------
async def open_conversations(base_url: str, count: int, run: str) -> list[int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return [int(p.body["conversation_id"]) for p in await post_leads(client, count, run)]


async def inbox_ids_of(database_url: str, conversation_ids: list[int]) -> dict[int, int]:
    """{Chatwoot conversation id: ours}, as the intake recorded them."""
    from aibroker.adapters.db.models import Conversation

    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(Conversation.inbox_conversation_id, Conversation.id)
                                             .where(Conversation.id.in_(conversation_ids)))).all()
    finally:
        await engine.dispose()
    return {int(inbox): int(ours) for inbox, ours in rows}


async def recorded_messages(database_url: str, settle_s: float) -> tuple[set[tuple[int, str]], float]:
    """Every recorded customer message (conversation, message id), and how long they took to settle: requests the
    client gave up on are still served by the API, so wait (up to `settle_s`) until no new one appears for a second.
    (The API does not mark a message queued: its job, looked up afterwards, is the proof.)"""
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    start = time.monotonic()
    previous = -1
    try:
        while True:
            async with engine.connect() as connection:
                total = (await connection.execute(select(func.count()).select_from(InboundMessage))).scalar_one()
            if total == previous:
                break
            if time.monotonic() - start > settle_s:
                return set(), -1.0  # still serving: nothing can be said about lost jobs yet
            previous = total
            await asyncio.sleep(1)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(InboundMessage.conversation_id, InboundMessage.message_id))).all()
    finally:
        await engine.dispose()
    return {(int(c), str(m)) for c, m in rows}, round(time.monotonic() - start, 1)


def redis_commands(url: str) -> int:
    """Commands the Redis server has processed so far (the API is its only client while the load runs)."""
    client = sync_redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


async def database_commits(database_url: str) -> int | None:
    """PostgreSQL: transactions committed in this database so far (pg_stat_database; the API is its only client
    while the load runs, plus this query). None on SQLite, which keeps no such count."""
    if not database_url.startswith("postgres"):
        return None
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            value = await connection.scalar(text(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
    finally:
        await engine.dispose()
    return int(value) if value is not None else None


def jobs_present(infra: Infra, keys: set[tuple[int, str]]) -> int:
    client = sync_redis.Redis.from_url(infra.redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        for conversation_id, message_id in sorted(keys):
            job_id = IncomingMessageJob(conversation_id=conversation_id, message_id=message_id, lead_score=0).job_id
            pipe.exists(f"{infra.prefix}:aibroker:{job_id}")
        return sum(int(x) for x in pipe.execute())
    finally:
        client.close()


def _send_rate(outcomes: list[Outcome]) -> float | None:
    """Requests the client began per second, first schedule to last start (not waiting for the answers)."""
    written = [o.started for o in outcomes if o.started]
    if len(written) < 2:
        return None
    return round((len(written) - 1) / (max(written) - min(o.scheduled for o in outcomes)), 1)


def analyse(outcomes: list[Outcome], rate: float) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    answers: dict[str, int] = {}
    for o in outcomes:
        key = str(o.status) if o.status is not None else f"error: {o.error}"
        statuses[key] = statuses.get(key, 0) + 1
        if o.status is not None and 200 <= o.status < 300:
            answer = o.body.split('"status":', 1)[-1].strip(' "}')
            kind = "redelivery" if o.delivery.redelivery else "new message"
            answers[f"{kind}: {answer}"] = answers.get(f"{kind}: {answer}", 0) + 1
    ok = [o for o in outcomes if o.status is not None]
    return {
        "requests": len(outcomes), "redeliveries": sum(1 for o in outcomes if o.delivery.redelivery),
        "statuses": statuses, "non_2xx": sum(1 for o in outcomes if not (o.status and 200 <= o.status < 300)),
        "answers": answers,
        "ack_ms": summarize((o.done - o.scheduled) * 1000 for o in ok),
        "ack_from_write_ms": summarize((o.done - o.written) * 1000 for o in ok),
        "client_lateness_ms": summarize((o.started - o.scheduled) * 1000 for o in outcomes if o.started),
        "connection_wait_ms": summarize((o.written - o.started) * 1000 for o in outcomes if o.written),
        "offered_rate_per_s": rate, "achieved_send_rate_per_s": _send_rate(outcomes),
    }


async def drive(args: argparse.Namespace, infra: Infra, cw: FakeChatwoot, base_url: str, api: Service
                ) -> dict[str, Any]:
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:6]
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    conversation_ids = await open_conversations(base_url, args.conversations, run)
    ours = await inbox_ids_of(infra.database_url, conversation_ids)
    phases["open_conversations_s"] = round(time.monotonic() - t0, 2)
    warm_count, measured_count = int(args.warmup * args.rate), int(args.duration * args.rate)
    plan = deliveries(cw, sorted(ours), ours, warm_count + measured_count, args.rate, args.duplicate_share, rng)
    print(f"{len(ours)} conversations open; {len(plan)} deliveries planned "
          f"({sum(d.redelivery for d in plan)} redeliveries)", flush=True)

    client = Client("127.0.0.1", int(base_url.rsplit(":", 1)[1]), args.timeout, args.connections)
    idle_from = tree_cpu_seconds(api.pid)
    await asyncio.sleep(3)  # the API's own background work (live hub, alerts), to tell it apart from requests
    api_idle_cores = (tree_cpu_seconds(api.pid) - idle_from) / 3
    warm, _ = await offer(client, plan[:warm_count], args.rate)
    api_cpu, api_rss = tree_cpu_seconds(api.pid), _rss_kb(api.pid)
    redis_cpu = cpu_seconds(infra.redis_pid) if infra.redis_pid else None
    driver_cpu = time.process_time()
    load_before = load_average()
    commands, commits = redis_commands(infra.redis_url), await database_commits(infra.database_url)
    measured, duration = await offer(client, plan[warm_count:], args.rate)
    commands = redis_commands(infra.redis_url) - commands - 1  # (less the INFO that read it)
    api_cpu_s = tree_cpu_seconds(api.pid) - api_cpu
    redis_cpu_s = ((cpu_seconds(infra.redis_pid) or 0.0) - (redis_cpu or 0.0)) if infra.redis_pid else None
    driver_cpu_s = time.process_time() - driver_cpu
    if commits is not None:
        await asyncio.sleep(11)  # an idle PostgreSQL backend flushes its statistics within 10 s
    commits_after = await database_commits(infra.database_url)
    await client.aclose()

    answered = sum(1 for o in measured if o.status is not None)  # (per answered request: a timed-out one
    everything = warm + measured                                   # may not have been served at all)
    accepted = {(o.delivery.conversation_id, o.delivery.message_id) for o in everything  # (a redelivery racing its
                if o.status == 200 and '"queued"' in o.body}                              # original may be first)
    recorded, settled_s = await recorded_messages(infra.database_url, args.settle)
    settled = settled_s >= 0
    jobs = jobs_present(infra, recorded)
    figures = analyse(measured, args.rate)
    return {
        "mode": {"conversations": len(ours), "rate_per_s": args.rate, "duration_s": args.duration,
                 "warmup_s": args.warmup, "settle_s": args.settle, "duplicate_share": args.duplicate_share,
                 "client": f"raw asyncio streams on uvloop, up to {args.connections} keep-alive connections, "
                           "one process",
                 "latency_measured_from": "the scheduled send time to the response fully read"},
        "phases_s": phases, "load_average_measured_phase_start": load_before,
        "measured": figures, "warmup": {"requests": len(warm), "non_2xx": analyse(warm, args.rate)["non_2xx"]},
        "connections_opened": client.opened,
        "cpu": {"api_s": round(api_cpu_s, 2),
                "api_ms_per_request": round(api_cpu_s / answered * 1000, 2) if answered else None,
                "api_cores": round(api_cpu_s / duration, 2), "api_idle_cores": round(api_idle_cores, 3),
                "driver_s": round(driver_cpu_s, 2),
                "driver_cores": round(driver_cpu_s / duration, 2),
                "redis_s": round(redis_cpu_s, 2) if redis_cpu_s is not None else None,
                "api_rss_mb": {"before": round((api_rss or 0) / 1024, 1),
                               "after": round(_rss_kb(api.pid) / 1024, 1)},
                "api_processes": len(process_tree(api.pid))},
        "per_answered_request": {
            "redis_commands": round(commands / answered, 2) if answered else None,
            "database_commits": round((commits_after - commits - 1) / answered, 2)  # (less the first reading's own)
            if answered and commits is not None and commits_after is not None else None,
            "note": "server-side counts over the measured phase (Redis commands include those run inside bullmq's "
                    "Lua scripts; commits: PostgreSQL's pg_stat_database, statistics flushed every ~0.5-1 s)"},
        "durability": {"settled": settled, "acknowledged_as_queued": len(accepted),
                       "acknowledged_not_recorded": len(accepted - recorded) if settled else None,
                       "recorded_messages": len(recorded) if settled else None,
                       "settled_after_s": settled_s if settled else None,
                       "jobs_in_redis": jobs if settled else None,
                       "missing_jobs": len(recorded) - jobs if settled else None},
    }


def _rss_kb(pid: int) -> int:
    return sum(proc_status_kb(p, "VmRSS") or 0 for p in process_tree(pid))


def report(result: dict[str, Any]) -> None:
    m, cpu, d = result["measured"], result["cpu"], result["durability"]
    show(f"webhook ack, {result['mode']['rate_per_s']}/s for {result['mode']['duration_s']} s, API alone", {
        "ack latency": fmt(m["ack_ms"]),
        "ack latency from the write": fmt(m["ack_from_write_ms"]),
        "p99 vs 50 ms": f"{m['ack_ms']['p99']} ms → {'within' if (m['ack_ms']['p99'] or 1e9) <= 50 else 'MISSED'}",
        "statuses": m["statuses"],
        "answers": m["answers"],
        "offered / achieved rate": f"{m['offered_rate_per_s']} / {m['achieved_send_rate_per_s']} per s",
        "client lateness (task start − schedule)": fmt(m["client_lateness_ms"]),
        "wait for a free connection": fmt(m["connection_wait_ms"]),
        "API CPU": f"{cpu['api_ms_per_request']} ms per request ({cpu['api_cores']} cores; idle "
                   f"{cpu['api_idle_cores']})",
        "driver / redis CPU": f"{cpu['driver_cores']} cores / {cpu['redis_s']} s",
        "acked queued / recorded / jobs": f"API still serving after --settle {result['mode']['settle_s']} s: "
                                          "not checked" if not d["settled"] else
                                          f"{d['acknowledged_as_queued']} / {d['recorded_messages']} "
                                          f"(settled in {d['settled_after_s']} s) / {d['jobs_in_redis']} (missing "
                                          f"{d['missing_jobs']}, acked but not recorded "
                                          f"{d['acknowledged_not_recorded']})",
        "per answered request": f"{result['per_answered_request']['redis_commands']} Redis commands, "
                                f"{result['per_answered_request']['database_commits']} database commits",
        "connections opened": result["connections_opened"],
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
    })


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("webhook", args)
    with infrastructure(args, "webhook") as infra, running_fake_chatwoot(secret=SECRET) as cw:
        env = {**infra.env(**chatwoot_env(cw, secret=SECRET)), "API_PROCESSES": str(args.api_processes)}
        api, base_url = start_api(infra, env)
        print(f"processes: api {api.pid} (with {args.api_processes} API process(es)), redis {infra.redis_pid}",
              flush=True)
        result = uvloop.run(drive(args, infra, cw, base_url, api))  # a lighter loop: the client must keep up
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
        if not api.alive():
            result.setdefault("warnings", []).append(f"the API exited early: {api.log_tail(500)}")
    report(result)
    path = write_results(args.results_dir, "webhook", result, args.tag)
    print(f"\nresults: {rel(path)}")
    durability = result["durability"]
    if result["measured"]["non_2xx"] or durability["missing_jobs"] or durability["acknowledged_not_recorded"]:
        return 1
    return 0 if durability["settled"] else 2  # 2: the API was still serving, so lost could not be told from late


if __name__ == "__main__":
    raise SystemExit(main())
