"""Worker heartbeats in Redis, so health checks and the API can tell whether any worker is alive."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TTL_S = 15


def heartbeat_key(prefix: str, queue: str, worker_id: str) -> str:
    return f"{prefix}:{queue}:aibroker:workers:{worker_id}"


class Heartbeat:
    def __init__(self, redis: aioredis.Redis, prefix: str, queue: str, worker_id: str, concurrency: int, *,
                 every_s: float = HEARTBEAT_EVERY_S) -> None:
        self._redis = redis
        self._every_s = every_s
        self._key = heartbeat_key(prefix, queue, worker_id)
        self.state: dict[str, Any] = {"worker_id": worker_id, "pid": os.getpid(), "host": socket.gethostname(),
                                      "concurrency": concurrency, "started_at": time.time(),
                                      "active_jobs": 0, "processed": 0, "failed": 0, "deferred": 0,
                                      "paced": 0}

    async def beat(self) -> None:
        self.state["last_heartbeat"] = time.time()
        await self._redis.set(self._key, json.dumps(self.state), ex=HEARTBEAT_TTL_S)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Redis down: the heartbeat expires and health reports it; we keep trying.
            with suppress(RedisError, OSError):
                await self.beat()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every_s)

    async def clear(self) -> None:
        with suppress(RedisError, OSError):
            await self._redis.delete(self._key)


async def read_heartbeats(redis: aioredis.Redis, prefix: str, queue: str) -> list[dict[str, Any]]:
    keys = [key async for key in redis.scan_iter(match=heartbeat_key(prefix, queue, "*"), count=100)]
    values = await redis.mget(keys) if keys else []
    return [json.loads(value) for value in values if value]
