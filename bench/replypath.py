"""What one reply costs the worker: SQL statements, Redis commands and CPU, busy and idle.

    .venv/bin/python -m bench.replypath                       # SQLite
    .venv/bin/python -m bench.replypath --database-url postgresql://postgres@127.0.0.1:5432/bench

Issue #15's targets for the reply path (offline responder, pacing off, queue included): at most 6 SQL statements,
30 Redis commands and 8 ms of worker CPU per reply. To count SQL statements the worker must run inside this
process (the counters are SQLAlchemy event listeners on the worker's own engine), so this benchmark runs
`worker.main.run_worker` (what `aibroker worker` runs, with the container it builds) in-process, against a
private `redis-server` and a fresh database; nothing else talks to that Redis while it counts.

1. Setup (not measured): N greeted conversations with one unanswered customer message each
   (`bench.hold.setup_bulk`: the rows the API path leaves behind, written in bulk), and their jobs (to run at once:
   pacing is off) on a paused queue; when the busy phase starts, every message is stamped received now
   (`bench.hold.stamp_received`) and the queue resumes.
2. Idle: the worker runs on the paused queue for `--idle` seconds: CPU and Redis commands per second.
3. Busy: the queue is resumed and the worker answers all N; per reply: SQL statements (cursor executions;
   transactions and connection check-outs counted apart), Redis commands (from Redis's MONITOR feed, read by a
   child process: the commands the worker sends, and apart from them the commands BullMQ's Lua scripts run inside
   Redis), the process's CPU (the driver only polls the ledger count every 0.2 s through its own database
   connection).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import time
import uuid
from typing import Any

from bullmq import Queue
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.queue.redis_options import connection_options
from aibroker.bootstrap import build_container
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.scoring import queue_priority
from aibroker.worker.main import new_event_loop, run_worker
from bench.common import add_infra_args, bounded, header, load_average, rel, show, write_results
from bench.hold import Setup, setup_bulk, stamp_received
from bench.system import Infra, infrastructure

DEFAULT_REPLIES = 500


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replypath", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=DEFAULT_REPLIES,
                        help="replies to measure, one per conversation (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=10, help="WORKER_CONCURRENCY (default: %(default)s)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds measured idle (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the replies")
    add_infra_args(parser)
    return parser.parse_args(argv)


class SqlCounter:
    """Statements the engine sends, by kind, plus transactions and pool check-outs (each check-out with
    `pool_pre_ping` costs a ping that no cursor event sees)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: collections.Counter[str] = collections.Counter()
        self.transactions = 0
        self.checkouts = 0
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "begin", self._begin)
        event.listen(sync.pool, "checkout", self._checkout)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements[_kind(statement)] += 1

    def _begin(self, _conn: Any) -> None:
        self.transactions += 1

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def snapshot(self) -> dict[str, Any]:
        return {"statements": sum(self.statements.values()), "by_kind": dict(self.statements),
                "transactions": self.transactions, "checkouts": self.checkouts}


def _kind(statement: str) -> str:
    """`SELECT inbox_conversations`, `UPDATE reply_ledger`, ...: the verb and the first table named."""
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table else verb


class RedisMonitor:
    """Every command Redis runs, from MONITOR: sent by a client (`sent`) or run by a Lua script (`in_scripts`).

    The feed is read by a child process (`bench.replypath_monitor`), which counts per command and answers a snapshot
    on request: parsing ~50 MONITOR lines per reply costs milliseconds, which must not be billed to the worker's
    CPU measured in this process."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._child: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.replypath_monitor", self._url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        await self._ask()  # answers once it follows the feed

    async def _ask(self) -> dict[str, collections.Counter[str]]:
        assert self._child is not None and self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(b"snapshot\n")
        await self._child.stdin.drain()
        counts = json.loads(await self._child.stdout.readline())
        return {kind: collections.Counter(counts[kind]) for kind in ("sent", "in_scripts")}

    async def snapshot(self) -> dict[str, collections.Counter[str]]:
        return await self._ask()

    async def aclose(self) -> None:
        if self._child is not None and self._child.returncode is None:
            self._child.kill()
            await self._child.wait()


def delta(after: collections.Counter[str], before: collections.Counter[str]) -> collections.Counter[str]:
    return collections.Counter({k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)})


async def queue_paused(infra: Infra, setup: Setup) -> None:
    """Every message's job, as the API queues it with pacing off (to run at once), on a paused queue."""
    jobs = BullJobQueue(Settings(_env_file=None, REDIS_URL=infra.redis_url, QUEUE_PREFIX=infra.prefix,  # type: ignore[call-arg]
                                 QUEUE_NAME="aibroker"), infra.redis_url)
    await jobs.pause()
    items = list(setup.messages.items())

    async def enqueue(i: int) -> None:
        c, m = items[i]
        score = setup.lead_scores[c]
        await jobs.enqueue(IncomingMessageJob(conversation_id=c, message_id=m, lead_score=score),
                           priority=queue_priority(score))

    await bounded(len(items), 16, enqueue)
    await jobs.aclose()


async def measure(args: argparse.Namespace, infra: Infra) -> dict[str, Any]:
    # A backlog waits longer than the reply SLA, and the SLA watch then publishes a warning and a breach for each
    # late message: a cost per late message, not per reply, so the SLA is set out of reach here.
    env = infra.env(PACING_ENABLED=False, WORKER_CONCURRENCY=args.concurrency, REPLY_SLA_MS=600_000)
    run = uuid.uuid4().hex[:6]
    args.conversations = max(1, args.conversations)
    setup = await setup_bulk(args, infra, run)
    await queue_paused(infra, setup)
    posted = setup.messages
    settings = Settings(_env_file=None, **env)  # type: ignore[arg-type]
    container = build_container(settings, infra.redis_url)
    sql = SqlCounter(container.engine)
    monitor = RedisMonitor(infra.redis_url)
    await monitor.start()
    reader = create_engine(settings.sqlalchemy_url)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, infra.redis_url, stop, container))
    try:
        await asyncio.sleep(2.0)  # start-up (connections, scripts loaded) is not what is measured

        async def point() -> dict[str, Any]:
            # CPU first: the monitor's round trip is the driver's, not the worker's
            cpu, t = time.process_time(), time.monotonic()
            return {"t": t, "cpu": cpu, "sql": sql.snapshot(), "redis": await monitor.snapshot()}

        idle_start = await point()
        await asyncio.sleep(args.idle)
        idle_end = await point()
        busy_start = await point()
        await stamp_received(infra, setup)  # every message received now (none older than the sweeper's grace)
        queue = Queue("aibroker", {"connection": connection_options(infra.redis_url), "prefix": infra.prefix})
        await queue.resume()
        await queue.close()
        polls = 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            async with reader.connect() as connection:
                done = (await connection.execute(text(
                    "SELECT count(*) FROM reply_ledger WHERE key LIKE 'message:%' AND state != 'claimed'"))).scalar()
            polls += 1
            if done >= len(posted):
                break
            await asyncio.sleep(0.2)
        busy_end = await point()
    finally:
        stop.set()
        await worker
        await container.aclose()
        await reader.dispose()
        await monitor.aclose()
    return figures(len(posted), int(done or 0), idle_start, idle_end, busy_start, busy_end)


def figures(expected: int, answered: int, idle_start: dict[str, Any], idle_end: dict[str, Any],
            busy_start: dict[str, Any], busy_end: dict[str, Any]) -> dict[str, Any]:
    idle_s = idle_end["t"] - idle_start["t"]
    idle_redis = delta(idle_end["redis"]["sent"], idle_start["redis"]["sent"])
    busy_redis = delta(busy_end["redis"]["sent"], busy_start["redis"]["sent"])
    busy_scripts = delta(busy_end["redis"]["in_scripts"], busy_start["redis"]["in_scripts"])
    sql_before, sql_after = busy_start["sql"], busy_end["sql"]
    by_kind = collections.Counter(sql_after["by_kind"])
    by_kind.subtract(sql_before["by_kind"])
    n = max(answered, 1)
    return {
        "replies": {"expected": expected, "answered": answered, "busy_s": round(busy_end["t"] - busy_start["t"], 2)},
        "per_reply": {
            "sql_statements": round((sql_after["statements"] - sql_before["statements"]) / n, 2),
            "sql_transactions": round((sql_after["transactions"] - sql_before["transactions"]) / n, 2),
            "pool_checkouts": round((sql_after["checkouts"] - sql_before["checkouts"]) / n, 2),
            "redis_commands": round(sum(busy_redis.values()) / n, 2),
            "redis_commands_in_scripts": round(sum(busy_scripts.values()) / n, 2),
            "cpu_ms": round((busy_end["cpu"] - busy_start["cpu"]) * 1000 / n, 2),
        },
        "sql_by_kind_per_reply": {k: round(v / n, 2) for k, v in by_kind.most_common() if v},
        "redis_by_command_per_reply": {k: round(v / n, 2) for k, v in busy_redis.most_common()},
        "idle": {"seconds": round(idle_s, 2),
                 "cpu_cores": round((idle_end["cpu"] - idle_start["cpu"]) / idle_s, 4),
                 "redis_commands_per_s": round(sum(idle_redis.values()) / idle_s, 1),
                 "redis_by_command": dict(idle_redis.most_common())},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("replypath", args)
    with infrastructure(args, "replypath") as infra:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # the loop `aibroker worker` runs on
            result = runner.run(measure(args, infra))
        result = {**head, "load_average_at_end": load_average(), "infrastructure": infra.describe(), **result}
    per, idle = result["per_reply"], result["idle"]
    show("replypath: what one reply costs the worker (offline responder, pacing off)", {
        "replies": f"{result['replies']['answered']} of {result['replies']['expected']} in "
                   f"{result['replies']['busy_s']} s",
        "SQL statements per reply (target ≤ 6)": f"{per['sql_statements']} "
                                                 f"({per['sql_transactions']} transactions, "
                                                 f"{per['pool_checkouts']} pool check-outs)",
        "Redis commands per reply (target ≤ 30)": f"{per['redis_commands']} sent "
                                                  f"(+ {per['redis_commands_in_scripts']} run by Lua scripts)",
        "worker CPU per reply (target ≤ 8 ms)": f"{per['cpu_ms']} ms",
        "SQL by kind": result["sql_by_kind_per_reply"],
        "Redis by command": result["redis_by_command_per_reply"],
        "idle worker": f"{idle['cpu_cores']} cores, {idle['redis_commands_per_s']} Redis commands/s",
        "load average (start → end)": f"{result['load_average_at_start']} → {result['load_average_at_end']}",
    })
    path = write_results(args.results_dir, "replypath", result, args.tag)
    print(f"\nresults: {rel(path)}")
    return 0 if result["replies"]["answered"] >= result["replies"]["expected"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
