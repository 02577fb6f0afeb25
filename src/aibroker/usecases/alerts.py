"""Alerts: one message when a condition starts and one when it ends, from any number of API and worker processes.

Every process runs `AlertMonitor.run`; per round, one of them (the one that claims the round in Redis) reads the
figures and judges the conditions. A start is sent by whoever sets the condition's firing flag (SET NX), an end by
whoever deletes it: a storm cannot happen even when two rounds overlap, and a slow round's figures are not judged
after a later round's newer ones. Each process also reports what only it can see (its own Chatwoot breaker, its LLM
fallbacks) as short-lived signals, which the judging process reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aibroker.domain.alerts import Condition, Figures, Thresholds, conditions
from aibroker.domain.ports import AlertState, Notifier
from aibroker.logging import get_logger

log = get_logger(__name__)


class AlertMonitor:
    def __init__(self, read_figures: Callable[[], Awaitable[Figures]], state: AlertState, notifiers: list[Notifier],
                 thresholds: Thresholds, *, link: str, every_s: float, clock: Callable[[], float],
                 local_signals: Callable[[], set[str]] = set) -> None:
        self._read_figures = read_figures
        self._state = state
        self._notifiers = notifiers
        self._thresholds = thresholds
        self._link = link
        self._every_s = every_s
        self._clock = clock
        self._local_signals = local_signals

    async def check(self) -> list[str]:
        """One round: report this process's signals; judge the conditions if this process won the round. Returns
        the messages this process sent."""
        for signal in self._local_signals():
            await self._state.signal(signal, ttl_s=self._every_s * 3)
        if not await self._state.claim_round(self._every_s):
            return []
        read_at = self._clock()
        figures = await self._read_figures()
        if not await self._state.judging(read_at):  # a later round, quicker than this one, judged newer figures
            log.info("alert round skipped: its figures were older than those already judged")
            return []
        return await self.judge(figures)

    async def judge(self, figures: Figures) -> list[str]:
        """Tell the starts and ends these figures make; returns the messages this process sent."""
        sent = []
        for condition in conditions(figures, self._thresholds):
            message = await self._transition(condition)
            if message is not None:
                sent.append(message)
        return sent

    async def _transition(self, condition: Condition) -> str | None:
        now = self._clock()
        since = await self._state.active_since(condition.name, condition.active, now)
        if since is not None and now - since >= condition.hold_s:
            if await self._state.start(condition.name):
                text = f":rotating_light: {condition.title}: {condition.figure}. Operations page: {self._link}"
                if not await self._notify(text, condition, "firing"):
                    await self._state.end(condition.name)  # not delivered: the next round tries again
                    return None
                return text
        elif since is None and await self._state.end(condition.name):
            text = f":white_check_mark: Resolved: {condition.title} (now {condition.figure}). {self._link}"
            await self._notify(text, condition, "resolved")
            return text
        return None

    async def _notify(self, text: str, condition: Condition, state: str) -> bool:
        payload = {"alert": condition.name, "state": state, "title": condition.title, "figure": condition.figure,
                   "link": self._link, "text": text}
        delivered = True
        for notifier in self._notifiers:
            try:
                await notifier.post(text, payload)
            except Exception as error:  # one destination down must not silence the others
                delivered = False
                log.warning("alert %s (%s) not delivered by %s: %s", condition.name, state, notifier.name,
                            type(error).__name__)
        log.warning("alert %s %s: %s", condition.name, state, condition.figure)
        return delivered

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception as error:  # Redis or the database briefly away: judge again next round
                log.info("alert check failed: %s", type(error).__name__)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every_s)
