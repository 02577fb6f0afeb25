"""What one SQL statement costs the calling process's CPU, layer by layer: the floor under `bench.replypath`.

    .venv/bin/python -m bench.sqlcost                                                    # SQLite (a temp file)
    .venv/bin/python -m bench.sqlcost --database-url postgresql://postgres@127.0.0.1:5432/bench

One indexed row, read (or one counter updated) N times on the event loop the worker runs on, through each layer the
product could use: an ORM session (what the reply path used before issue #15's second pass), a Core statement on a
connection checked out per statement (what it uses now), a Core statement on a connection held throughout (no
pool check-out), and the driver itself (aiosqlite / asyncpg, no SQLAlchemy). CPU is the process's (aiosqlite's
thread included), per statement; the database server's own CPU (PostgreSQL) is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aibroker.adapters.db.engine import create_engine
from aibroker.config import Settings
from aibroker.worker.main import new_event_loop
from bench.common import header, load_average, rel, show, write_results


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "bench_sqlcost"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    n: Mapped[int] = mapped_column(Integer, default=0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlcost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=2000, help="per layer (default: %(default)s)")
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--results-dir", type=Path, default=Path("bench/results"))
    parser.add_argument("--tag", default="")
    return parser.parse_args(argv)


async def _cpu_per_call(call: Callable[[], Awaitable[Any]], n: int) -> float:
    for _ in range(min(200, n)):  # warm: pool, compiled-statement cache, prepared statements
        await call()
    started = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - started) / n * 1e6


async def measure(engine: AsyncEngine, n: int) -> dict[str, float]:
    async with engine.begin() as connection:
        await connection.run_sync(_Base.metadata.drop_all)
        await connection.run_sync(_Base.metadata.create_all)
        await connection.execute(insert(_Row), [{"id": i, "name": f"n{i}"} for i in range(1, 1001)])
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    table = _Row.__table__
    held = await engine.connect()
    driver = (await held.get_raw_connection()).driver_connection
    sqlite = engine.dialect.name == "sqlite"

    async def orm_read() -> None:
        async with sessions() as session:
            await session.get(_Row, 17)

    async def orm_write() -> None:
        async with sessions() as session, session.begin():
            await session.execute(update(_Row).where(_Row.id == 17).values(n=_Row.n + 1))

    async def core_read() -> None:
        async with engine.connect() as connection:
            (await connection.execute(select(table).where(table.c.id == 17))).first()

    async def core_write() -> None:
        async with engine.begin() as connection:
            await connection.execute(update(table).where(table.c.id == 17).values(n=table.c.n + 1))

    async def core_read_held() -> None:
        (await held.execute(select(table).where(table.c.id == 17))).first()

    async def driver_read() -> None:
        if sqlite:
            cursor = await driver.execute("SELECT id, name, n FROM bench_sqlcost WHERE id = ?", (17,))
            await cursor.fetchone()
        else:
            await driver.fetchrow("SELECT id, name, n FROM bench_sqlcost WHERE id = $1", 17)

    figures = {}
    for name, call in (("orm_session_read", orm_read), ("orm_session_write_txn", orm_write),
                       ("core_checkout_read", core_read), ("core_checkout_write_txn", core_write),
                       ("core_held_connection_read", core_read_held), ("driver_read", driver_read)):
        figures[name] = round(await _cpu_per_call(call, n), 1)
    await held.close()
    async with engine.begin() as connection:
        await connection.run_sync(_Base.metadata.drop_all)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = header("sqlcost", args)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/sqlcost.db"
        engine = create_engine(Settings(_env_file=None, DATABASE_URL=url).sqlalchemy_url)  # type: ignore[call-arg]

        async def run() -> dict[str, float]:
            try:
                return await measure(engine, args.statements)
            finally:
                await engine.dispose()

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            figures = runner.run(run())
    result = {**head, "load_average_at_end": load_average(), "database": engine.dialect.name,
              "cpu_us_per_statement": figures}
    show(f"sqlcost: CPU per statement, {engine.dialect.name} (µs)", figures)
    print(f"\nresults: {rel(write_results(args.results_dir, 'sqlcost', result, args.tag))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
