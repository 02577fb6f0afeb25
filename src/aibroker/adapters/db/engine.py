"""Engine and session factory. SQLite gets WAL and a busy timeout so the API and worker can share it, and its
statements take one trip to aiosqlite's thread instead of four (adapters/db/sqlite_one_trip.py).

No `pool_pre_ping`: it cost a round trip on every check-out (14 of the 52 statements a reply used to take). A
connection the server dropped (a database restart, an idle timeout) is met where it is used instead: SQLAlchemy
recognises the disconnect and invalidates the pool, and `unavailable()` turns the failed call into a
DependencyUnavailable with a short `retry_after_s`, so a worker's job is run again at once on fresh connections
(the reply ledger makes that safe; no attempt is spent) and an HTTP request gets a 503 it can retry.
PostgreSQL connections are also recycled after `RECYCLE_S`, before a typical server or proxy idle timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aibroker.adapters.db import sqlite_one_trip
from aibroker.errors import DependencyUnavailable

RECYCLE_S = 1800
RETRY_AFTER_DISCONNECT_S = 1.0  # a job meeting a dead pool runs again on fresh connections, no attempt spent


def create_engine(url: str, *, schema: str | None = None, log_sql: bool = False) -> AsyncEngine:
    """`schema` (PostgreSQL only) puts every table in that schema: tests use it for isolation.

    Unless `log_sql` (LOG_SQL), SQL parameters (names, e-mails, message text) are kept out of every log line and
    exception message, whatever the log level; the statements' logger is set in `aibroker.logging`."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": not log_sql}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 30}
        if sqlite_one_trip.available():  # (sqlite3.connect's arguments for this URL, as the dialect gives them)
            args, params = SQLiteDialect_aiosqlite().create_connect_args(parsed)
            kwargs["async_creator"] = sqlite_one_trip.connector(args, {**params, **connect_args})
        else:
            kwargs["connect_args"] = connect_args
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_recycle=RECYCLE_S)
        if schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    _skip_idle_rollbacks(engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _skip_idle_rollbacks(engine: AsyncEngine) -> None:
    """Every session that only read ends with a ROLLBACK, and so does every connection going back to the pool; with
    aiosqlite each is a hop to the connection's thread and back although SQLite has no transaction open (the
    sqlite3 module begins one only before a write). Asked first (a flag read in this thread), such a rollback is
    skipped: it would do nothing. (About a tenth of a reply's CPU on SQLite: bench.replypath.)"""
    dialect = engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        if dbapi_connection.driver_connection.in_transaction:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine a session factory is bound to. The reply path's statements run as Core statements on its
    connections: a session's unit of work, identity map and ORM rows cost more than the statement itself there
    (about 0.3-0.7 ms of CPU per statement; bench.replypath)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory is not bound to an AsyncEngine")
    return bind


def one_statement(engine: AsyncEngine) -> AsyncEngine:
    """The engine for units of work of one statement, which is atomic by itself. On PostgreSQL they run in
    autocommit: one round trip instead of three (BEGIN, the statement, COMMIT or ROLLBACK); switching a connection's
    mode there is a flag in the driver. SQLite's driver begins a transaction only before a write, and switching its
    mode would cost a hop to aiosqlite's thread at every check-out: there the engine is used as it is."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The DependencyUnavailable a failed database call stands for: a lost connection, or the database unable to
    do it now (DBAPI's OperationalError/InterfaceError: unreachable, SQLite busy past its timeout). None for any
    other error (a constraint, a bug)."""
    if not isinstance(error, DBAPIError):
        return None
    if error.connection_invalidated:
        return DependencyUnavailable("database", f"connection lost ({type(error.orig).__name__})",
                                     retry_after_s=RETRY_AFTER_DISCONNECT_S)
    if isinstance(error, InterfaceError | OperationalError):
        return DependencyUnavailable("database", type(error.orig).__name__, retry_after_s=RETRY_AFTER_DISCONNECT_S)
    return None
