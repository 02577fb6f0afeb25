"""Start-up checks: a process that cannot do its work says why in one line and exits non-zero, instead of a
traceback or a hang (a worker whose Redis is away would otherwise retry its connection for a long time, and a
worker on an unmigrated database would fail every job).

Messages name where the process looked (host and port, or the SQLite file) and the cause, never a password.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry  # the asyncio client's own: redis-py 8 warns on (and converts) the sync one
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import Settings

# Each check gives up well inside the 30 s an operator (or an orchestrator's start probe) waits for a verdict.
REDIS_CHECK_TIMEOUT_S = 10.0
DATABASE_CHECK_TIMEOUT_S = 15.0


class StartupError(Exception):
    """Why this process cannot start, as one line for the operator."""


def redis_location(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"


def database_location(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _cause(error: BaseException, *secrets: str | None) -> str:
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    text = " ".join(f"{type(error).__name__}: {error}".split())  # one line, whatever the driver wrote
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:300]


async def check_redis(url: str) -> None:
    """Redis answers PING. One quick retry only: the caller wants a verdict, not a long reconnect loop."""
    options = connection_options(url)
    options.update(socket_timeout=5.0, retry=Retry(NoBackoff(), 1))
    client = aioredis.Redis(**options)
    try:
        async with asyncio.timeout(REDIS_CHECK_TIMEOUT_S):
            await client.ping()
    except (TimeoutError, RedisError, OSError) as error:
        raise StartupError(f"cannot reach Redis at {redis_location(url)}: "
                           f"{_cause(error, urlparse(url).password)}") from error
    finally:
        await client.aclose()


async def check_database(settings: Settings, *, migrated: bool) -> None:
    """The database answers; with `migrated`, its schema is at this version's head revision."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # importing alembic and reading the revision is not news
    from aibroker.adapters.db.engine import create_engine
    from aibroker.adapters.db.migrate import migration_status

    where = database_location(settings.sqlalchemy_url)
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_S):
            status = await migration_status(engine)
    except Exception as error:  # any driver error (refused, unknown host, bad password, missing database)
        raise StartupError(f"cannot reach the database at {where}: "
                           f"{_cause(error, make_url(settings.sqlalchemy_url).password)}") from error
    finally:
        alembic_log.setLevel(level)
        await engine.dispose()
    if migrated and not status["up_to_date"]:
        current = status["current"] or "no schema"
        raise StartupError(f"the database at {where} is not migrated (at {current}, this version needs "
                           f"{status['head']}): run `aibroker migrate` first")
