"""One loop for the worker's periodic chores (the sweeper, the SLA clock): a step every few seconds until stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aibroker.logging import get_logger

log = get_logger(__name__)


async def every(seconds: float, step: Callable[[], Awaitable[object]], stop: asyncio.Event, what: str) -> None:
    """Run `step` every `seconds` until `stop`; a failed step (Redis or the database away) is logged, and the
    next round tries again."""
    while not stop.is_set():
        try:
            await step()
        except Exception as error:
            log.info("%s skipped: %s", what, type(error).__name__)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
