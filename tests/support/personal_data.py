"""Look for a person's data everywhere the product keeps anything: every column of every table (the table list comes
from the models' metadata, so a table added later is scanned too) and every key under the test's Redis prefix."""

from __future__ import annotations

from typing import Any

import redis as sync_redis

from aibroker.adapters.db.models import Base
from aibroker.config import Settings
from tests.support.db import query


def _matches(value: Any, needles: list[str]) -> list[str]:
    text = str(value).lower()
    return [needle for needle in needles if needle.lower() in text]


def database_hits(settings: Settings, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every cell of every table that contains a needle (case-insensitive)."""
    hits: list[tuple[str, str, str]] = []
    for table in Base.metadata.sorted_tables:
        for row in query(settings, f"SELECT * FROM {table.name}"):
            hits += [(table.name, column, needle) for column, value in row.items()
                     for needle in _matches(value, needles)]
    return hits


def _values(client: sync_redis.Redis, key: bytes) -> list[Any]:
    kind = client.type(key).decode()
    if kind == "string":
        return [client.get(key)]
    if kind == "hash":
        return list(client.hgetall(key).items())
    if kind == "stream":
        return list(client.xrange(key))
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return list(client.zrange(key, 0, -1))
    return []


def redis_hits(settings: Settings, needles: list[str]) -> list[tuple[str, str]]:
    """(key, needle) for every key under the settings' prefix whose name or value contains a needle."""
    assert settings.redis_url
    client = sync_redis.Redis.from_url(settings.redis_url)
    try:
        hits: list[tuple[str, str]] = []
        for key in client.scan_iter(match=f"{settings.queue_prefix}:*", count=500):
            found = set(_matches(key.decode(), needles))
            for value in _values(client, key):
                found |= set(_matches(value.decode(errors="replace") if isinstance(value, bytes) else value, needles))
            hits += [(key.decode(), needle) for needle in sorted(found)]
        return hits
    finally:
        client.close()


def redis_key_exists(settings: Settings, key: str) -> bool:
    assert settings.redis_url
    client = sync_redis.Redis.from_url(settings.redis_url)
    try:
        return bool(client.exists(key))
    finally:
        client.close()
