"""Engine and session factory. SQLite gets WAL and a busy timeout so the API and worker can share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str, *, schema: str | None = None, log_sql: bool = False) -> AsyncEngine:
    """`schema` (PostgreSQL only) puts every table in that schema: tests use it for isolation.

    Unless `log_sql` (LOG_SQL), SQL parameters (names, e-mails, message text) are kept out of every log line and
    exception message, whatever the log level; the statements' logger is set in `aibroker.logging`."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": not log_sql}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file has no server to drop the connection, and each ping is a round trip through
        # aiosqlite's thread on every session (five per webhook).
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        if schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
