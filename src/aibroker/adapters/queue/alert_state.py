"""Alert bookkeeping in Redis (the `AlertState` port), shared by the API and every worker.

Keys under `{prefix}:aibroker:alerts:`: `round` (who judges this round, expires with it), `judged` (when the newest
figures judged so far were read: the processes' wall clocks are compared), `since:{name}` (when a
condition became active), `firing:{name}` (set while its start has been told), `signal:{name}:{process}`
(what one process sees, fading on its own), `last-heartbeat` (the newest worker heartbeat ever seen, so silence is
measured even after the heartbeat keys themselves expired).
"""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

# Figures read at ARGV[1] are judged unless newer ones were: the newest reading judged so far is kept.
_JUDGING = """
local newest = redis.call('get', KEYS[1])
if newest and tonumber(newest) > tonumber(ARGV[1]) then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
JUDGED_KEPT_S = 24 * 3600


class RedisAlertState:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:aibroker:alerts"
        self._process = uuid.uuid4().hex[:12]
        self._judging = redis.register_script(_JUDGING)

    async def claim_round(self, every_s: float) -> bool:
        # A little shorter than the round, so the next round's claim is never refused by a clock's jitter.
        return bool(await self._redis.set(f"{self._base}:round", self._process, nx=True,
                                          px=max(1, int(every_s * 900))))

    async def judging(self, read_at: float) -> bool:
        # A round's claim expires with the round, however long the round takes: a slow round (a starved machine)
        # may judge after a later one. Its figures are then older, and judged last they would undo the later
        # round's verdict (an alert ended by stale figures, then started again: a storm in small).
        return bool(await self._judging(keys=[f"{self._base}:judged"], args=[repr(read_at), JUDGED_KEPT_S]))

    async def active_since(self, name: str, active: bool, now: float) -> float | None:
        key = f"{self._base}:since:{name}"
        if not active:
            await self._redis.delete(key)
            return None
        await self._redis.set(key, repr(now), nx=True)
        stored = await self._redis.get(key)
        return float(stored) if stored is not None else now

    async def start(self, name: str) -> bool:
        return bool(await self._redis.set(f"{self._base}:firing:{name}", repr(time.time()), nx=True))

    async def end(self, name: str) -> bool:
        return int(await self._redis.delete(f"{self._base}:firing:{name}")) == 1

    async def signal(self, name: str, *, ttl_s: float) -> None:
        await self._redis.set(f"{self._base}:signal:{name}:{self._process}", "1", px=max(1, int(ttl_s * 1000)))

    async def signals(self) -> set[str]:
        prefix = f"{self._base}:signal:"
        return {key[len(prefix):].rsplit(":", 1)[0]
                async for key in self._redis.scan_iter(match=f"{prefix}*", count=100)}

    async def heartbeat_silence(self, newest_beat: float | None, now: float) -> float:
        """Seconds since the newest worker heartbeat ever seen (remembered here); from the first look if none."""
        key = f"{self._base}:last-heartbeat"
        if newest_beat is not None:
            await self._redis.set(key, repr(newest_beat))
            return max(0.0, now - newest_beat)
        await self._redis.set(key, repr(now), nx=True)  # no worker yet: count the silence from now
        stored = await self._redis.get(key)
        return max(0.0, now - float(stored)) if stored is not None else 0.0
