"""SQLite statements in one trip to aiosqlite's thread (adapters/db/sqlite_one_trip.py), through the engine the
product builds: the trips are counted on the connection's own queue, and what SQLAlchemy gets back (rows, counts,
new ids, errors, transactions, the URL's options) is what four trips gave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.models import WebhookReceipt


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)"))
    yield engine
    await engine.dispose()


class _CountedQueue:
    """Stands in for a connection's queue to its thread (aiosqlite's `_tx`; the thread keeps reading the real one),
    counting the calls put on it."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.trips = 0

    def put_nowait(self, item: Any) -> None:
        self.trips += 1
        self._queue.put_nowait(item)


def _counted(dbapi_connection: Any) -> _CountedQueue:
    driver = dbapi_connection.driver_connection
    driver._tx = counted = _CountedQueue(driver._tx)
    return counted


async def test_a_statement_is_one_trip_and_brings_back_its_rows_count_and_id(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        queue = _counted(raw.dbapi_connection)
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)"))
        assert queue.trips == 1  # (the sqlite3 module begins the transaction itself, in the same call)
        rows = (await connection.execute(text("SELECT name, n FROM item WHERE n >= :n ORDER BY n"), {"n": 2})).all()
        assert [tuple(row) for row in rows] == [("b", 2), ("c", 3)]
        assert queue.trips == 2
        updated = await connection.execute(text("UPDATE item SET n = n + 10 WHERE n < 3"))
        assert updated.rowcount == 2
        returned = await connection.execute(text("UPDATE item SET n = 0 WHERE name = 'a' RETURNING id, name"))
        assert [tuple(row) for row in returned] == [(1, "a")]
        many = await connection.execute(text("INSERT INTO item (name, n) VALUES (:name, :n)"),
                                        [{"name": "d", "n": 4}, {"name": "e", "n": 5}])
        assert many.rowcount == 2
        assert queue.trips == 5
        await connection.commit()
    async with sqlite_engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
        assert names == ["a", "b", "c", "d", "e"]


async def test_an_orm_insert_gets_its_new_id_and_a_duplicate_its_integrity_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'orm.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(WebhookReceipt.__table__.create)
    sessions = session_factory(engine)
    async with sessions() as session:
        receipt = WebhookReceipt(source="chatwoot", event="message_created", external_id="1")
        session.add(receipt)
        await session.commit()
        assert receipt.id == 1  # (cursor.lastrowid)
    async with sessions() as session:
        session.add(WebhookReceipt(source="chatwoot", event="message_created", external_id="1"))
        with pytest.raises(IntegrityError):
            await session.commit()
        await session.rollback()
        session.add(WebhookReceipt(source="chatwoot", event="message_created", external_id="2"))
        await session.commit()  # the connection is usable after the error
    await engine.dispose()


async def test_a_failed_transaction_is_rolled_back_whole(sqlite_engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with sqlite_engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name, n) VALUES ('x', 1)"))
            await connection.execute(text("INSERT INTO item (name, n) VALUES ('x', 2)"))
    async with sqlite_engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM item"))).scalar() == 0


async def test_the_urls_options_reach_sqlite(tmp_path: Path) -> None:
    """(The connection is opened by our connector, so the dialect's arguments for the URL are passed on.)"""
    path = tmp_path / "ro.db"
    writer = create_engine(f"sqlite+aiosqlite:///{path}")
    async with writer.begin() as connection:
        await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    await writer.dispose()
    reader = create_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    statements: list[str] = []
    event.listen(reader.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    async with reader.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        with pytest.raises(OperationalError, match="readonly"):
            await connection.execute(text("INSERT INTO t VALUES (1)"))
    await reader.dispose()
    assert statements[-1] == "INSERT INTO t VALUES (1)"
