"""Fault injection for the fake Chatwoot: scripted failures, slow answers and random faults.

    fake.faults.fail_next(2, status=429, retry_after=1)      # next 2 matching calls: 429, Retry-After: 1
    fake.faults.fail_next(1, status=503, path=r"/messages$")  # only message calls
    fake.faults.timeout_next(1, seconds=2.0)                  # answer after 2 s (past the client's timeout)
    fake.faults.timeout_next(1, seconds=2.0, process=True)    # … but do the work first (ambiguous failure)
    fake.faults.random_faults(0.3, seed=42)                   # 30 % of calls fail with 500/502/503
    fake.faults.random_timeouts(0.05, seconds=11, process=True, seed=1)  # 5 % answered late, work done
    fake.faults.duplicate_webhooks = 1                        # every webhook delivered twice

`path` is a regular expression searched in the request path; `method` an HTTP method. Faults are checked in
the order they were added; random timeouts, then random faults, apply when no scripted fault matched.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str  # "status" or "timeout"
    remaining: int
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    process: bool = False
    method: str | None = None
    path: re.Pattern[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and (
            self.path is None or self.path.search(path) is not None)


@dataclass
class _Random:
    probability: float
    statuses: tuple[int, ...]
    rng: random.Random
    method: str | None
    path: re.Pattern[str] | None


@dataclass
class _RandomTimeout:
    probability: float
    seconds: float
    process: bool
    rng: random.Random


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random: _Random | None = None
        self._random_timeout: _RandomTimeout | None = None
        self.duplicate_webhooks = 0
        self.injected: list[tuple[str, str, str]] = []  # (method, path, what) for every fault served

    def fail_next(self, n: int = 1, *, status: int = 503, retry_after: float | str | None = None,
                  method: str | None = None, path: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault("status", n, status=status,
                                      retry_after=None if retry_after is None else str(retry_after),
                                      method=method.upper() if method else None,
                                      path=re.compile(path) if path else None))

    def timeout_next(self, n: int = 1, *, seconds: float = 2.0, process: bool = False,
                     method: str | None = None, path: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault("timeout", n, seconds=seconds, process=process,
                                      method=method.upper() if method else None,
                                      path=re.compile(path) if path else None))

    def random_faults(self, probability: float, *, statuses: tuple[int, ...] = (500, 502, 503), seed: int = 0,
                      method: str | None = None, path: str | None = None) -> None:
        with self._lock:
            self._random = _Random(probability, statuses, random.Random(seed),
                                   method.upper() if method else None, re.compile(path) if path else None)

    def random_timeouts(self, probability: float, *, seconds: float = 2.0, process: bool = False,
                        seed: int = 0) -> None:
        """Like `timeout_next`, but for a random share of all calls (checked before `random_faults`)."""
        with self._lock:
            self._random_timeout = _RandomTimeout(probability, seconds, process, random.Random(seed))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._random = None
            self._random_timeout = None
            self.duplicate_webhooks = 0

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to serve for this request, if any (consumes one use of it)."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    self.injected.append((method, path, fault.kind if fault.kind == "timeout"
                                          else str(fault.status)))
                    return fault
            self._faults = [fault for fault in self._faults if fault.remaining > 0]
            slow = self._random_timeout
            if slow is not None and slow.rng.random() < slow.probability:
                self.injected.append((method, path, "timeout"))
                return Fault("timeout", 1, seconds=slow.seconds, process=slow.process)
            chance = self._random
            if chance is None or not Fault("status", 1, method=chance.method, path=chance.path).matches(
                    method, path):
                return None
            if chance.rng.random() >= chance.probability:
                return None
            status = chance.rng.choice(chance.statuses)
            self.injected.append((method, path, str(status)))
            return Fault("status", 1, status=status)
