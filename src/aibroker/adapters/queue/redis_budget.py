"""One time budget for all the Redis calls an HTTP request makes.

While Redis is down, each call would otherwise wait out redis-py's own retries and back-off (seconds each), and
a request makes several (lead intake: two event publishes, then the enqueue): it took 8–10 s to answer 503.
The API opens a budget of `ENQUEUE_TIMEOUT_S` per request (`request_budget`); every Redis call on the request
path runs inside `bounded`, which allows it at most what is left of that budget (and its own limit), so the
request answers 503 within `ENQUEUE_TIMEOUT_S` however many calls it makes. Outside a request (workers) only the
call's own limit applies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class _Budget:
    left_s: float


_budget: ContextVar[_Budget | None] = ContextVar("aibroker_redis_budget", default=None)


@contextmanager
def request_budget(seconds: float) -> Iterator[None]:
    """Share `seconds` among the Redis calls made inside this block (one HTTP request)."""
    token = _budget.set(_Budget(seconds))
    try:
        yield
    finally:
        _budget.reset(token)


@asynccontextmanager
async def bounded(limit_s: float) -> AsyncIterator[None]:
    """Run the block's Redis calls within `limit_s` and within what is left of the request's budget;
    TimeoutError otherwise (at once when the budget is spent)."""
    budget = _budget.get()
    allowed = limit_s if budget is None else min(limit_s, budget.left_s)
    started = time.monotonic()
    try:
        if allowed <= 0:
            raise TimeoutError("the request's Redis time budget is spent")
        async with asyncio.timeout(allowed):
            yield
    finally:
        if budget is not None:
            budget.left_s -= time.monotonic() - started
