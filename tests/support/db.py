"""Read the product's database from a test, as an operator's SQL console would (never to change behaviour)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from aibroker.adapters.db.engine import create_engine
from aibroker.config import Settings


def query(settings: Settings, sql: str, **params: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def execute(settings: Settings, sql: str, **params: Any) -> None:
    """For setting up a situation (e.g. a broken record) that production code must survive."""

    async def run() -> None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(sql), params)
        finally:
            await engine.dispose()

    asyncio.run(run())


def ledger(settings: Settings, conversation_id: int) -> list[dict[str, Any]]:
    return query(settings, "SELECT key, state, sent_message_id, reply_key, note FROM reply_ledger "
                           "WHERE conversation_id = :c ORDER BY id", c=conversation_id)
