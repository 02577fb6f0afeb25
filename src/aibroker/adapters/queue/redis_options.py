"""Redis connection options for bullmq and our own clients, with the guard rails of ARCHITECTURE §3."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

import redis.asyncio as aioredis


def connection_options(redis_url: str) -> dict[str, Any]:
    """Keyword options for redis-py built from a URL.

    `socket_timeout=None`: redis-py 8 defaults to 5 s, which cuts the worker's blocking reads (BZPOPMIN)
    short, so jobs are picked up seconds late and QueueEvents loses events. Connecting still times out.
    """
    parsed = urlparse(redis_url)
    options: dict[str, Any] = {"socket_timeout": None, "socket_connect_timeout": 5,
                               "health_check_interval": 15}
    if parsed.scheme == "unix":
        options["unix_socket_path"] = parsed.path
    else:
        options["host"] = parsed.hostname or "127.0.0.1"
        options["port"] = parsed.port or 6379
        if parsed.scheme == "rediss":
            options["ssl"] = True
    db_path = parsed.path.lstrip("/") if parsed.scheme != "unix" else ""
    options["db"] = int(db_path) if db_path.isdigit() else 0
    if parsed.username:
        options["username"] = unquote(parsed.username)
    if parsed.password:
        options["password"] = unquote(parsed.password)
    return options


def redis_client(redis_url: str, *, command_timeout_s: float | None = 5.0) -> aioredis.Redis:
    """Our own (non-blocking) client: decoded responses, a bounded command timeout so a dead Redis
    turns into a quick error instead of a hang."""
    options = connection_options(redis_url)
    options["socket_timeout"] = command_timeout_s
    return aioredis.Redis(decode_responses=True, **options)
