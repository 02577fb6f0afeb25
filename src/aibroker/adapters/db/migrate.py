"""Apply Alembic migrations and seed the broker pool (idempotent: safe to run on every start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.models import Broker
from aibroker.domain.personas import PERSONAS

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
    await seed_brokers(engine)


async def migration_status(engine: AsyncEngine) -> dict[str, str | bool | None]:
    """Current and head revision, for health and the admin migration-status page."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    async with engine.connect() as connection:
        current = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    return {"current": current, "head": head, "up_to_date": current == head}


async def seed_brokers(engine: AsyncEngine) -> None:
    """One broker per FACTS §P persona; existing rows (and their workload) are left alone."""
    async with session_factory(engine)() as session, session.begin():
        existing = set((await session.scalars(select(Broker.name))).all())
        for persona in PERSONAS:
            if persona.name not in existing:
                session.add(Broker(name=persona.name, title=persona.title,
                                   persona_type=persona.persona_type.value))
