"""SQLite statements in one trip to the connection's thread instead of four.

aiosqlite runs each sqlite3 call in the connection's own thread, and SQLAlchemy's aiosqlite adapter makes four
such calls per statement: open a cursor, execute, fetch the rows, close the cursor. Each trip there and back (a
queue, a thread wake-up, a call back into the event loop) costs ~100 µs of CPU on this 2-core machine, several times
what SQLite spends on a reply-path statement (measured, one indexed SELECT: sqlite3 itself 22 µs, one trip 143 µs,
the four trips 442 µs, through SQLAlchemy 554-643 µs). Here the cursor handed to SQLAlchemy does the four calls as
one function in that thread, then serves the rows it brought back: the same sqlite3 calls, in the same thread and
order, so transactions, errors and results are the same.

The trip itself is aiosqlite's `Connection._execute` (its one primitive for running a call in its thread, which
SQLAlchemy's adapter drives too, through `_tx` and `_conn`). Where an aiosqlite version lacks it, the engine uses
aiosqlite as it is (`available()`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from threading import Thread
from typing import Any

import aiosqlite

_Outcome = tuple[Any, list[Any], int, int | None]  # description, rows, rowcount, lastrowid


def available() -> bool:
    return callable(getattr(aiosqlite.Connection, "_execute", None))


def connector(args: Sequence[Any], kwargs: dict[str, Any]) -> Callable[[], OneTripConnection]:
    """SQLAlchemy's `async_creator` for a database the dialect would open with `sqlite3.connect(*args, **kwargs)`
    (`dialect.create_connect_args(url)` and the engine's `connect_args`)."""
    def connect() -> OneTripConnection:
        connection = OneTripConnection(partial(sqlite3.connect, *args, **kwargs), iter_chunk_size=64)
        # As SQLAlchemy's adapter does: a forgotten connection must not keep a process alive. (Before aiosqlite 0.22
        # the connection was the thread.)
        thread = getattr(connection, "_thread", connection)
        if isinstance(thread, Thread):
            thread.daemon = True
        return connection
    return connect


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """In the connection's thread: a statement and everything SQLAlchemy then asks of its cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description is not None else []
        return description, rows, cursor.rowcount, cursor.lastrowid  # (rowcount is final once rows are fetched)
    finally:
        cursor.close()


class OneTripCursor:
    """The aiosqlite cursor interface SQLAlchemy's adapter uses, over a statement already run and fetched."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._rows = []

    async def _outcome(self, sql: str, parameters: Any, many: bool) -> OneTripCursor:
        self.description, self._rows, self.rowcount, self.lastrowid = await self._connection._execute(
            _run, self._connection._conn, sql, parameters, many)
        return self

    async def execute(self, sql: str, parameters: Any = ()) -> OneTripCursor:
        return await self._outcome(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        return await self._outcome(sql, parameters, many=True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """(aiosqlite's opens the sqlite3 cursor in the thread, a trip of its own; this one opens it with the
        statement.)"""
        return OneTripCursor(self)
