"""Group commit: writes that arrive while one is in flight are written together, in the next transaction.

Replies run side by side in a worker, and each ends with small writes of its own (a ledger claim, a completion).
Written one transaction each, their commits and statements add up; written together they share one. There is no
timer: a write that finds nothing in flight starts at once (alone, it waits for nothing), and what arrives while it
is in flight waits only for it. Each caller gets its own result once the transaction holding its write has
committed; if that transaction fails, every write in it gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    done: asyncio.Future[Result]


class GroupCommit(Generic[Item, Result]):
    """`write` writes a group of items in one transaction and returns one result per item, in order."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._write = write
        self._waiting: list[_Waiting[Item, Result]] = []
        self._writer: asyncio.Future[None] | None = None  # the task writing them

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        waiting: _Waiting[Item, Result] = _Waiting(item, loop.create_future())
        self._waiting.append(waiting)
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:  # (a store may outlive a loop: tests)
            self._writer = asyncio.ensure_future(self._write_waiting())
        return await asyncio.shield(waiting.done)

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                results = await self._write([waiting.item for waiting in group])
            except Exception as error:
                for waiting in group:
                    _settle(waiting.done, error=error)
            except BaseException as error:  # cancelled (shutdown): nobody is left to write what waits
                for waiting in [*group, *self._waiting]:
                    _settle(waiting.done, error=error)
                self._waiting = []
                raise
            else:
                for waiting, result in zip(group, results, strict=True):
                    _settle(waiting.done, result)


def _settle(future: asyncio.Future[Result], result: Result | None = None, *,
            error: BaseException | None = None) -> None:
    """Give a waiting caller its result (unless its loop is gone, or it was settled already)."""
    if future.done() or future.get_loop().is_closed():
        return
    if error is None:
        future.set_result(result)  # type: ignore[arg-type]
    else:
        future.set_exception(error)
