"""How long the analytics report takes at a million events, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.analytics                          # SQLite, and PostgreSQL if TEST_DATABASE_URL is set
    .venv/bin/python -m bench.analytics --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

Fills a fresh, migrated database with a realistic mix (per conversation: created, broker joined, greeting, three
customer messages and replies, some handoffs and human answers; ~10 events each) spread over 14 days, bulk
inserted (sqlite3 executemany / PostgreSQL COPY), then times the report (`GET /api/admin/analytics`) for each window
and the alerts' 15-minute figures, best and median of --repeat runs. The PostgreSQL database is created and
dropped by the benchmark (the given URL only needs to reach the server as a user who may create databases).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from aibroker.adapters.db.analytics import SqlAnalytics, humans_awaited, recent_replies
from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.migrate import migrate
from aibroker.config import Settings
from aibroker.domain.alerts import RECENT
from aibroker.domain.analytics import Window
from aibroker.domain.personas import PERSONAS
from bench.common import RESULTS_DIR, header, load_average, show, write_results

NOW = datetime.now(UTC).replace(microsecond=0)
SPAN = timedelta(days=14)
Rows = dict[str, list[tuple[Any, ...]]]


def generate(target_events: int, seed: int = 13) -> Rows:
    """Rows per table (datetimes as aware UTC), until `target_events` chat events exist."""
    rng = random.Random(seed)
    rows: Rows = {"conversations": [], "inbound_messages": [], "reply_ledger": [], "chat_events": []}
    events, inbound, ledger = rows["chat_events"], rows["inbound_messages"], rows["reply_ledger"]
    conversation = 0
    while len(events) < target_events:
        conversation += 1
        c = conversation
        broker = rng.randrange(len(PERSONAS))
        created = NOW - SPAN * rng.random()
        handoff = rng.random() < 0.10
        human_answer = handoff and rng.random() < 0.7
        rows["conversations"].append((c, "builtin", str(c), str(c), "new_purchase", "{}", 50, PERSONAS[broker].name,
                                      broker + 1, "human" if handoff else "bot", "open" if handoff else "pending",
                                      created, created, rng.random() < 0.01))
        greeted = created + timedelta(milliseconds=rng.lognormvariate(math.log(2000), 0.3))
        ledger.append((c, "greeting", "sent", "t", created, greeted, None))
        events += [(c, "conversation:created", "{}", created), (c, "broker:joined", "{}", created),
                   (c, "message:ai", "{}", greeted)]
        at = greeted
        for k in range(3):
            at += timedelta(seconds=rng.uniform(5, 120))
            message = f"m{c}-{k}"
            latency = timedelta(milliseconds=rng.lognormvariate(math.log(2500), 0.45))
            inbound.append((c, message, at))
            ledger.append((c, f"message:{message}", "sent", "t", at, at + latency,
                           "job_failed" if rng.random() < 0.01 else None))
            events += [(c, "message:user", "{}", at), (c, "message:ai", "{}", at + latency)]
            at += latency
        if handoff:
            events.append((c, "handoff", json.dumps({"reason": rng.choice(["explicit_request", "frustration",
                                                                           "compliance"])}), at))
            if human_answer:
                events.append((c, "message:human", "{}", at + timedelta(minutes=rng.uniform(1, 20))))
    del events[target_events:]
    return rows


COLUMNS = {
    "conversations": ("id", "inbox", "inbox_conversation_id", "inbox_contact_id", "loan_type", "lead", "lead_score",
                      "persona_name", "broker_id", "owner", "status", "created_at", "last_activity_at", "is_test"),
    "inbound_messages": ("conversation_id", "message_id", "received_at"),
    "reply_ledger": ("conversation_id", "key", "state", "claim_token", "claimed_at", "completed_at", "note"),
    "chat_events": ("conversation_id", "type", "payload", "created_at"),
}


def _sqlite_value(value: Any) -> Any:
    # As SQLAlchemy stores a DateTime on SQLite: naive UTC text.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def load_sqlite(path: Path, rows: Rows) -> None:
    connection = sqlite3.connect(path)
    try:
        with connection:
            for table, columns in COLUMNS.items():
                names = ", ".join(f'"{column}"' for column in columns)
                marks = ", ".join("?" * len(columns))
                connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                       ([_sqlite_value(v) for v in row] for row in rows[table]))
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def load_postgres(dsn: str, rows: Rows) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for table, columns in COLUMNS.items():
            await connection.copy_records_to_table(table, records=rows[table], columns=list(columns))
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def time_queries(database_url: str, repeat: int) -> dict[str, Any]:
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    sessions = session_factory(engine)
    analytics = SqlAnalytics(sessions)
    out: dict[str, Any] = {}
    try:
        for window in Window:
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                report = await analytics.report(window, now=NOW, sla_ms=5000)
                runs.append((time.perf_counter() - started) * 1000)
            out[f"report {window.value}"] = {
                "best_ms": round(min(runs)), "median_ms": round(statistics.median(runs)),
                "replies": report.messages_answered, "conversations": report.conversations_started,
                "reply_p95_ms": report.reply_latency.p95_ms}
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            await recent_replies(sessions, since=NOW - RECENT, now=NOW, sla_ms=5000)
            await humans_awaited(sessions, since=NOW - timedelta(days=7), now=NOW)
            runs.append((time.perf_counter() - started) * 1000)
        out["alert figures (15 min + human waits)"] = {"best_ms": round(min(runs)),
                                                       "median_ms": round(statistics.median(runs))}
    finally:
        await engine.dispose()
    return out


async def run_backend(name: str, database_url: str, rows: Rows, repeat: int, load: Any) -> dict[str, Any]:
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    await migrate(engine)
    await engine.dispose()
    started = time.perf_counter()
    await load() if asyncio.iscoroutinefunction(load) else load()
    loaded_s = round(time.perf_counter() - started, 1)
    figures = await time_queries(database_url, repeat)
    show(f"{name}: bulk insert {loaded_s} s", {k: f"best {v['best_ms']} ms · median {v['median_ms']} ms"
                                               for k, v in figures.items()})
    return {"insert_s": loaded_s, "queries": figures}


async def main(args: argparse.Namespace) -> None:
    data = header("analytics", args)
    started = time.perf_counter()
    rows = generate(args.events)
    data["rows"] = {table: len(values) for table, values in rows.items()}
    print(f"generated {data['rows']} in {time.perf_counter() - started:.1f} s")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "analytics.db"
        results["sqlite"] = await run_backend("SQLite", f"sqlite:///{path}", rows, args.repeat,
                                              lambda: load_sqlite(path, rows))
    if args.postgres_url:
        admin = make_url(args.postgres_url).set(drivername="postgresql")
        name = f"aibroker_bench_{uuid.uuid4().hex[:8]}"
        connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
        await connection.execute(f'CREATE DATABASE "{name}"')
        target = admin.set(database=name).render_as_string(hide_password=False)
        try:
            async def load() -> None:
                await load_postgres(target, rows)

            results["postgresql"] = await run_backend("PostgreSQL", target, rows, args.repeat, load)
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()
    else:
        print("\n(PostgreSQL skipped: pass --postgres-url or set TEST_DATABASE_URL)")
    data["results"] = results
    data["load_average_at_end"] = load_average()
    print(f"\nwrote {write_results(args.results_dir, 'analytics', data, args.tag)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="chat events to insert (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query (default: %(default)s)")
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a PostgreSQL server to create the benchmark's database on (default: TEST_DATABASE_URL)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="default: bench/results")
    parser.add_argument("--tag", default="", help="suffix for the result file names")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
