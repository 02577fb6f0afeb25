"""Abuse limits with the `limits` library: moving windows kept in the app's own Redis.

Every API process shares the buckets (keys under `{QUEUE_PREFIX}:ratelimit:`), so limits hold however many
processes serve the API. A request is counted against all of its charges or against none: every bucket is
tested first, and only then hit, so a refused request does not eat into the other limits (e.g. the hourly one
while the per-minute one refuses). Two requests racing for a bucket's last entry are settled by the atomic hit.

The limiter must never become a reason for an outage: each check has its own short timeout, and when Redis
cannot be reached the request goes on to its normal path (which answers 503 itself if it needs Redis). After a
failure the limiter stands aside for a few seconds, so requests during an outage do not each wait for it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from aibroker.adapters.queue.redis_options import connection_options
from aibroker.config import parse_rate_limits
from aibroker.domain.ports import RateCharge, RateRefusal
from aibroker.logging import get_logger

log = get_logger(__name__)

STAND_ASIDE_S = 5.0  # after Redis failed a check, let requests through this long before trying it again


class RedisRateLimiter:
    def __init__(self, redis_url: str, prefix: str, policies: Mapping[str, str], *, timeout_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        options = connection_options(redis_url)
        options.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=0)
        # Its own client (bytes, short timeouts); the redis-py implementation, as the rest of the app uses redis-py.
        self._client = aioredis.Redis(**options)
        storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=f"{prefix}:ratelimit",
                               connection_pool=self._client.connection_pool)  # type: ignore[arg-type]
        self._limiter = MovingWindowRateLimiter(storage)
        self._policies: dict[str, list[RateLimitItem]] = {
            name: parse_rate_limits(spec) for name, spec in policies.items()}
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._stand_aside_until = 0.0
        self._failing = False

    async def acquire(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        return await self._guarded(self._acquire(charges))

    async def check(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        return await self._guarded(self._test(charges))

    async def _guarded(self, work: Coroutine[Any, Any, RateRefusal | None]) -> RateRefusal | None:
        if self._monotonic() < self._stand_aside_until:
            work.close()
            return None
        try:
            refusal = await asyncio.wait_for(work, self._timeout_s)
        except (RedisError, OSError, TimeoutError) as error:
            self._stand_aside_until = self._monotonic() + STAND_ASIDE_S
            if not self._failing:  # once per outage, not once per request
                self._failing = True
                log.warning("rate limits not enforced: Redis did not answer the limiter (%s)", type(error).__name__)
            return None
        if self._failing:
            self._failing = False
            log.info("rate limits enforced again")
        return refusal

    def _buckets(self, charges: Sequence[RateCharge]) -> list[tuple[RateCharge, RateLimitItem]]:
        return [(charge, item) for charge in charges for item in self._policies[charge.policy]]

    async def _test(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        for charge, item in self._buckets(charges):
            if not await self._limiter.test(item, charge.policy, charge.subject):
                return await self._refusal(charge, item)
        return None

    async def _acquire(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        if (refusal := await self._test(charges)) is not None:
            return refusal
        for charge, item in self._buckets(charges):
            if not await self._limiter.hit(item, charge.policy, charge.subject):  # lost the race for the last entry
                return await self._refusal(charge, item)
        return None

    async def _refusal(self, charge: RateCharge, item: RateLimitItem) -> RateRefusal:
        stats = await self._limiter.get_window_stats(item, charge.policy, charge.subject)
        # The window's oldest entry leaves it at `reset_time`; from then on one more request fits.
        return RateRefusal(charge=charge, retry_after_s=max(1, math.ceil(stats.reset_time - time.time())))

    async def aclose(self) -> None:
        await self._client.aclose()
