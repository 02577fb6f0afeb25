"""Ours beside the old design, in one run, under the same open-loop load (issue #15, item 4).

    .venv/bin/python -m bench.compare

Two sides share one private Redis and one database (a fresh SQLite file, or `--database-url`):

- ours: the API (`aibroker serve`) and ONE `aibroker worker` (pacing on, the offline responder), as
  bench.pipeline runs them. A customer message enters through `POST /api/conversations/{id}/messages`; its
  latency is the reply's `inbox_messages.created_at` minus the POST's start (read from the database).
- baseline: ONE `node bench/baseline/worker.js` (BullMQ for Node, concurrency 3, one database read per job,
  the persona delay awaited in the job, unclipped), re-creating the seeds' worker. A message enters as a job
  on its BullMQ queue (the original webhook → queue); its latency is the local sink's receipt time of the
  reply minus the time the driver began adding the job.

The C conversations are opened through the product's lead form, so both sides read the same persona mix.
The baseline runs first (so ours never runs beside its backlog), then ours; per side:

1. hold: N messages at once (N = C); sample the worker's RSS, Redis `used_memory` and the conversations waiting
   (ours: typing on, i.e. in their delay; baseline: jobs waiting or active) every 0.1 s; memory per waiting
   conversation = (peak − idle) / peak waiting. The baseline's waiting jobs are then dropped (it would need
   minutes to answer them).
2. rate steps: messages round-robin over the conversations at R/s (bench.common.paced), R stepping up the
   `--rates` ladder (each step max(`--step-min-messages`, R × `--step-seconds`) messages), until the side falls
   behind (not every reply within `--drain-timeout` s after the last send, or the median latency of the step's
   last third exceeding its first third's by over a second: a queue building up), or, once it held the SLA
   at some rate, its P95 passes it. Ours starts at the highest rate the baseline sustained (equal load).

Figures per side: replies/s at the highest rate that held with P95 ≤ 5 s (per worker process: one each), the
highest rate sustained at all, P95 at equal load (the baseline's highest sustained rate), worker CPU per reply
(/proc, from the step's first send until its replies are in), memory per waiting conversation; and the ratios
ours / baseline. Where Node is missing the baseline is skipped (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis

from aibroker.bootstrap import EXPECTED_GENERATION_MS
from aibroker.domain.pacing import DEFAULT_PACING, LEGACY_DELAYS_MS, ReplyPacer
from aibroker.domain.personas import PersonaType
from bench import baseline_node
from bench.common import (
    add_infra_args,
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
from bench.observe import DbReader
from bench.system import Infra, cpu_seconds, infrastructure, proc_status_kb, start_api, start_worker_process

SLA_MS = 5000
IDLE_SECONDS = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="0.5,1,2,4,8,16,32,64",
                        help="offered messages/s, stepped up in this order (default: %(default)s)")
    parser.add_argument("--step-seconds", type=float, default=15.0, help="length of a step (default: %(default)s)")
    parser.add_argument("--step-min-messages", type=int, default=20,
                        help="fewest messages in a step, so slow steps still give a P95 (default: %(default)s)")
    parser.add_argument("--drain-timeout", type=float, default=20.0,
                        help="seconds after a step's last send for its replies (default: %(default)s)")
    parser.add_argument("--conversations", type=int, default=200,
                        help="C, conversations opened (and held at once in the hold) (default: %(default)s)")
    parser.add_argument("--hold-seconds", type=float, default=8.0,
                        help="how long the baseline's hold is sampled before its waiting jobs are dropped "
                             "(default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, help="our WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--baseline-concurrency", type=int, default=3,
                        help="the Node worker's concurrency (default: %(default)s, the seeds')")
    parser.add_argument("--sla-ms", type=int, default=SLA_MS, help="REPLY_SLA_MS, and the P95 bound (default: "
                                                                   "%(default)s)")
    parser.add_argument("--sides", choices=["both", "ours", "baseline"], default="both")
    add_infra_args(parser)
    args = parser.parse_args(argv)
    args.rate_ladder = [float(r) for r in args.rates.split(",") if r.strip()]
    if not args.rate_ladder or min(args.rate_ladder) <= 0 or args.conversations < 1:
        parser.error("need positive --rates and --conversations >= 1")
    return args


@dataclass
class Side:
    """What the driver needs of a side: how a message enters, how its replies are read, what is measured."""

    name: str
    pid: int
    send: Callable[[int, str], Awaitable[str | None]]  # (conversation index, text) → the message's key
    answered: Callable[[], Awaitable[int]]  # replies in so far (all steps)
    reply_times: Callable[[list[str]], Awaitable[dict[str, tuple[float, str]]]]  # key → (reply time, reply id)
    waiting: Callable[[], Awaitable[int]]  # conversations waiting for their reply now
    nominal_ms: Callable[[int], float]  # a conversation's pacing delay before jitter, as this side applies it
    sent_at: dict[str, float] = field(default_factory=dict)
    conversation_of: dict[str, int] = field(default_factory=dict)  # message key → conversation index
    next_conversation: int = 0
    turns: dict[int, int] = field(default_factory=dict)

    async def send_next(self, conversations: int) -> None:
        index = self.next_conversation % conversations
        self.next_conversation += 1
        turn = self.turns.get(index, 0)
        self.turns[index] = turn + 1
        key = await self.send(index, question(index, turn))
        if key is not None:
            self.conversation_of[key] = index


async def redis_used_memory(redis: aioredis.Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def hold(side: Side, args: argparse.Namespace, redis: aioredis.Redis, *, until_answered: bool) -> dict[str, Any]:
    """N messages at once; memory per waiting conversation = (memory when the most wait − idle) / the most
    waiting at once. The worker's idle CPU (cores, over `IDLE_SECONDS` before the messages) is the fixed cost
    that the CPU per reply includes."""
    cpu_idle_start, idle_rss = cpu_seconds(side.pid) or 0.0, []
    for _ in range(10):
        idle_rss.append(proc_status_kb(side.pid, "VmRSS") or 0)
        await asyncio.sleep(IDLE_SECONDS / 10)
    idle_cores = ((cpu_seconds(side.pid) or 0.0) - cpu_idle_start) / IDLE_SECONDS
    idle_redis = await redis_used_memory(redis)
    before = await side.answered()
    started = time.monotonic()
    await paced(args.conversations, 0, lambda i, _at: side.send_next(args.conversations))
    peak = {"waiting": 0, "rss_kb": 0, "redis_bytes": 0}
    highest_rss_kb = 0
    deadline = started + (60.0 if until_answered else args.hold_seconds)
    while time.monotonic() < deadline:
        waiting, used = await side.waiting(), await redis_used_memory(redis)
        rss = proc_status_kb(side.pid, "VmRSS") or 0
        if waiting >= peak["waiting"]:  # the memory while the most conversations wait (the latest such sample)
            peak.update(waiting=waiting, rss_kb=rss, redis_bytes=used)
        highest_rss_kb = max(highest_rss_kb, rss)
        if until_answered and await side.answered() - before >= args.conversations:
            break
        await asyncio.sleep(0.1)
    idle_kb = min(idle_rss)
    held = max(1, peak["waiting"])
    worker_kb = (peak["rss_kb"] - idle_kb) / held
    redis_kb = (peak["redis_bytes"] - idle_redis) / 1024 / held
    return {"messages": args.conversations, "peak_waiting": peak["waiting"],
            "worker_idle_cpu_cores": round(idle_cores, 3),
            "worker_rss_mb_idle": round(idle_kb / 1024, 1), "worker_rss_mb_at_peak": round(peak["rss_kb"] / 1024, 1),
            "worker_rss_mb_highest": round(highest_rss_kb / 1024, 1),
            "redis_mb_idle": round(idle_redis / 2**20, 2), "redis_mb_at_peak": round(peak["redis_bytes"] / 2**20, 2),
            "worker_kb_per_waiting": round(worker_kb, 1), "redis_kb_per_waiting": round(redis_kb, 1),
            "total_kb_per_waiting": round(worker_kb + redis_kb, 1), "seconds": round(time.monotonic() - started, 1)}


async def step(side: Side, args: argparse.Namespace, rate: float, redis_pid: int | None) -> dict[str, Any]:
    count = max(args.step_min_messages, round(rate * args.step_seconds))
    keys_before = set(side.sent_at)
    expected = await side.answered() + count
    cpu_start = cpu_seconds(side.pid) or 0.0
    redis_start = cpu_seconds(redis_pid) if redis_pid else None
    send_s = await paced(count, rate, lambda i, _at: side.send_next(args.conversations))
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline:
        if await side.answered() >= expected:
            break
        await asyncio.sleep(0.25)
    cpu_s = (cpu_seconds(side.pid) or 0.0) - cpu_start
    redis_s = (cpu_seconds(redis_pid) or 0.0) - redis_start if redis_pid and redis_start is not None else None
    keys = [k for k in side.sent_at if k not in keys_before]
    replies = await side.reply_times(keys)
    ordered = sorted(keys, key=side.sent_at.__getitem__)
    latency = {k: (replies[k][0] - side.sent_at[k]) * 1000 for k in ordered if k in replies}
    # A queue building up: latency beyond the persona's nominal delay grows from the step's first third to its
    # last (the nominal delay is subtracted because the persona mix of a third varies by seconds).
    excess = {k: v - side.nominal_ms(side.conversation_of[k]) for k, v in latency.items()}
    third = max(1, len(ordered) // 3)
    first = summarize(excess[k] for k in ordered[:third] if k in excess)["p50"]
    last = summarize(excess[k] for k in ordered[-third:] if k in excess)["p50"]
    growth = (last - first) if isinstance(first, float | int) and isinstance(last, float | int) else None
    stats = summarize(latency.values())
    distinct = len({reply_id for _t, reply_id in replies.values()})
    window = max((t for t, _r in replies.values()), default=0) - min(side.sent_at[k] for k in keys)
    behind = len(latency) < len(keys) or growth is None or growth > 1000
    return {"rate": rate, "messages": len(keys), "answered": len(latency), "distinct_replies": distinct,
            "send_s": round(send_s, 1), "latency_ms": stats, "excess_over_nominal_ms": summarize(excess.values()),
            "excess_p50_growth_ms": round(growth, 1) if growth is not None else None,
            "replies_per_s": round(distinct / window, 2) if window > 0 else None,
            "cpu_s": round(cpu_s, 2), "cpu_ms_per_reply": round(cpu_s / distinct * 1000, 1) if distinct else None,
            "redis_cpu_ms_per_reply": round(redis_s / distinct * 1000, 1) if distinct and redis_s is not None else None,
            "within_sla": stats["p95"] is not None and stats["p95"] <= args.sla_ms, "behind": behind,
            "load_average": load_average()}


async def ladder(side: Side, args: argparse.Namespace, rates: list[float], redis_pid: int | None
                 ) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for rate in rates:
        result = await step(side, args, rate, redis_pid)
        steps.append(result)
        print(f"  {side.name:<8} {rate:>5g}/s  answered {result['answered']}/{result['messages']}  "
              f"p50 {result['latency_ms']['p50']} p95 {result['latency_ms']['p95']} ms  "
              f"{result['replies_per_s']} replies/s  {result['cpu_ms_per_reply']} ms CPU/reply"
              f"{'  BEHIND' if result['behind'] else ''}", flush=True)
        held_sla_before = any(s["within_sla"] and not s["behind"] for s in steps[:-1])
        if result["behind"] or (held_sla_before and not result["within_sla"]):
            break
        await asyncio.sleep(2)  # let the worker go idle between steps
    return steps


# --- the two sides ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Opened:
    """A conversation opened through the lead form."""

    id: int
    token: dict[str, str]  # the header that lets its customer post
    persona_type: PersonaType

    def nominal_ms(self, clip_ms: float | None = None) -> float:
        """Its persona's delay for a calm message (FACTS §P), before jitter; `clip_ms`: ours clips it."""
        calm = LEGACY_DELAYS_MS[self.persona_type][0]
        return calm if clip_ms is None else min(calm, clip_ms)


async def open_conversations(args: argparse.Namespace, client: httpx.AsyncClient, reader: DbReader
                             ) -> list[Opened]:
    posted = await post_leads(client, args.conversations, uuid.uuid4().hex[:6])
    await reader.wait_finished("greeting", len(posted), 120)
    return [Opened(int(p.body["conversation_id"]), {"X-Conversation-Token": p.body["conversation_token"]},
                   PersonaType(p.body["broker"]["persona_type"] or PersonaType.BALANCED)) for p in posted]


def ours(worker_pid: int, client: httpx.AsyncClient, reader: DbReader, conversations: list[Opened],
         sla_ms: int) -> Side:
    messages: dict[str, tuple[int, str]] = {}  # key → (conversation id, message id)

    async def send(index: int, text: str) -> str | None:
        conversation_id = conversations[index].id
        key = uuid.uuid4().hex
        side.sent_at[key] = time.time()
        response = await client.post(f"/api/conversations/{conversation_id}/messages",
                                     headers=conversations[index].token,
                                     json={"content": text, "client_message_id": key})
        if response.status_code != 202:
            del side.sent_at[key]
            return None
        messages[key] = (conversation_id, str(response.json()["message_id"]))
        return key

    async def reply_times(keys: list[str]) -> dict[str, tuple[float, str]]:
        rows = await reader.ledger([c.id for c in conversations])
        by_key = {(r["conversation_id"], r["key"]): r for r in rows if r["state"] == "sent" and r["sent_at"]}
        out: dict[str, tuple[float, str]] = {}
        for key in keys:
            row = by_key.get((messages[key][0], f"message:{messages[key][1]}")) if key in messages else None
            if row is not None:
                out[key] = (row["sent_at"], str(row["sent_message_id"]))
        return out

    clip_ms = ReplyPacer(DEFAULT_PACING, EXPECTED_GENERATION_MS["offline"], sla_ms).longest_delay_ms
    side = Side("ours", worker_pid, send, lambda: reader.finished_count("message:"), reply_times,
                reader.typing_count, lambda index: conversations[index].nominal_ms(clip_ms))
    return side


def baseline(node_pid: int, queue: baseline_node.BaselineQueue, sink: baseline_node.ReplySink,
             redis: aioredis.Redis, conversations: list[Opened]) -> Side:
    lists = [f"{queue.prefix}:{baseline_node.BASELINE_QUEUE}:{name}" for name in ("wait", "active")]

    async def send(index: int, text: str) -> str:
        key = uuid.uuid4().hex
        side.sent_at[key] = time.time()
        await queue.add(key, conversations[index].id, text)
        return key

    async def answered() -> int:
        return len(sink.received)

    async def reply_times(keys: list[str]) -> dict[str, tuple[float, str]]:
        return {k: (sink.received[k], k) for k in keys if k in sink.received}

    async def waiting() -> int:
        return sum([int(await redis.llen(name)) for name in lists])

    side = Side("baseline", node_pid, send, answered, reply_times, waiting,
                lambda index: conversations[index].nominal_ms())
    return side


# --- the run ------------------------------------------------------------------------------------------------
async def drive(args: argparse.Namespace, infra: Infra, base_url: str, worker_pid: int, node: str | None
                ) -> dict[str, Any]:
    reader = DbReader(infra.database_url, infra.redis_url, infra.prefix)
    redis = aioredis.Redis.from_url(infra.redis_url, decode_responses=True)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    result: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        conversations = await open_conversations(args, client, reader)
        result["personas"] = dict(Counter(c.persona_type.value for c in conversations))
        equal_load = args.rate_ladder[0]
        if node is not None:
            sink = await baseline_node.ReplySink().start()
            queue = baseline_node.BaselineQueue(infra.redis_url, infra.prefix)
            worker = baseline_node.NodeWorker(node, baseline_node.worker_env(
                infra.redis_url, infra.prefix, infra.database_url, sink.url, args.baseline_concurrency),
                infra.workdir / "baseline-worker.log")
            try:
                side = baseline(worker.pid, queue, sink, redis, conversations)
                print("baseline: hold", flush=True)
                held = await hold(side, args, redis, until_answered=False)
                await queue.drain()
                await asyncio.sleep(8)  # the jobs in its slots finish their delay
                print("baseline: rate steps", flush=True)
                steps = await ladder(side, args, args.rate_ladder, infra.redis_pid)
                await queue.drain()  # what its last step left behind: nobody will answer it
                result["baseline"] = {"steps": steps, "hold": held, "duplicate_posts": sink.bodies - len(sink.received),
                                      "worker_alive": worker.alive()}
                sustained = [s["rate"] for s in steps if not s["behind"]]
                equal_load = max(sustained, default=args.rate_ladder[0])
            finally:
                worker.stop()
                await queue.close()
                await sink.close()
        if args.sides != "baseline":
            side = ours(worker_pid, client, reader, conversations, args.sla_ms)
            print("ours: hold", flush=True)
            result["ours"] = {"hold": await hold(side, args, redis, until_answered=True)}
            await asyncio.sleep(2)
            print("ours: rate steps", flush=True)
            rates = [r for r in args.rate_ladder if r >= equal_load]
            result["ours"]["steps"] = await ladder(side, args, rates, infra.redis_pid)
        result["equal_load_rate"] = equal_load
    await redis.aclose()
    await reader.aclose()
    return result


def figures(side: dict[str, Any], sla_ms: int, equal_load: float) -> dict[str, Any]:
    steps = side.get("steps", [])
    held = [s for s in steps if not s["behind"]]
    within = [s for s in held if s["within_sla"]]
    at_equal = next((s for s in steps if s["rate"] == equal_load), None)
    best = within[-1] if within else None
    return {
        "replies_per_s_at_p95_within_sla": best["replies_per_s"] if best else None,
        "rate_held_within_sla": best["rate"] if best else None,
        "replies_per_s_sustained": held[-1]["replies_per_s"] if held else None,
        "rate_sustained": held[-1]["rate"] if held else None,
        "p95_ms_at_equal_load": at_equal["latency_ms"]["p95"] if at_equal else None,
        "cpu_ms_per_reply_at_equal_load": at_equal["cpu_ms_per_reply"] if at_equal else None,
        "cpu_ms_per_reply_at_highest_sustained": held[-1]["cpu_ms_per_reply"] if held else None,
        "redis_cpu_ms_per_reply_at_equal_load": at_equal["redis_cpu_ms_per_reply"] if at_equal else None,
        "worker_idle_cpu_cores": side.get("hold", {}).get("worker_idle_cpu_cores"),
        "worker_kb_per_waiting": side.get("hold", {}).get("worker_kb_per_waiting"),
        "total_kb_per_waiting": side.get("hold", {}).get("total_kb_per_waiting"),
    }


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 2) if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    sides = {name: figures(result[name], args.sla_ms, result["equal_load_rate"])
             for name in ("ours", "baseline") if name in result}
    result["figures"] = sides
    if len(sides) == 2:
        result["ratios_ours_over_baseline"] = {k: ratio(sides["ours"][k], sides["baseline"][k])
                                               for k in sides["ours"]}
    print(f"\n== compare (equal load = {result['equal_load_rate']} msgs/s; load average "
          f"{result['load_average_at_start']} → {result['load_average_at_end']})")
    names = list(sides)
    print(f"  {'figure':<40}" + "".join(f"{n:>14}" for n in names) + ("  ours/baseline" if len(names) == 2 else ""))
    for key in next(iter(sides.values()), {}):
        row = f"  {key:<40}" + "".join(f"{sides[n][key]!s:>14}" for n in names)
        if len(names) == 2:
            row += f"{result['ratios_ours_over_baseline'][key]!s:>15}"
        print(row)
    if "baseline" in sides and sides["baseline"]["rate_held_within_sla"] is None:
        print(f"  (the baseline's P95 passed {args.sla_ms} ms at every rate: its unclipped persona delays alone reach "
              "6.9 s, so that ratio has no denominator; compare the sustained rates)")
    for name in names:
        show(f"{name}: hold of {args.conversations} messages at once", result[name]["hold"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("compare", args)
    node = baseline_node.install() if args.sides != "ours" else None
    if node is None and args.sides == "baseline":
        return 0
    with infrastructure(args, "compare") as infra:
        env = infra.env(PACING_ENABLED=True, WORKER_CONCURRENCY=args.concurrency, REPLY_SLA_MS=args.sla_ms)
        api, base_url = start_api(infra, env)
        worker = start_worker_process(infra, env)
        result = asyncio.run(drive(args, infra, base_url, worker.pid, node))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(),
                  "baseline_skipped": node is None, **result}
        for process in (worker, api):
            if not process.alive():
                result.setdefault("warnings", []).append(f"{process.command} exited early: {process.log_tail(500)}")
    report(result, args)
    path = write_results(args.results_dir, "compare", result, args.tag)
    print(f"\nresults: {rel(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
