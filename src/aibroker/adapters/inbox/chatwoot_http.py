"""The Chatwoot adapter's HTTP transport: timeouts, retries, a circuit breaker, and error classification.

* 429, 408, 5xx, timeouts and connection errors are transient (`TransientInboxError`); other 4xx are
  permanent (`PermanentInboxError`, with `.status`).
* Transient failures are retried `max_retries` times with exponential backoff and jitter; a `Retry-After`
  header (seconds or HTTP date) is honoured, and one longer than `max_retry_after_s` is not waited for: the
  error is raised at once with `retry_after_s` set, so the job queue can delay the job instead.
* The circuit opens when, among the calls that ended in the last `window_s`, at least `failure_threshold`
  failed transiently AND they are at least `failure_rate` of those calls: then calls fail fast with
  `CircuitOpenError` until `reset_after_s` has passed, and one trial call is let through (half-open).
  Why a share, not "N failures in a row": one adapter serves many conversations at once, so a Chatwoot that
  fails a fifth of its calls produces five failures in a row every few seconds by chance alone, and an
  open circuit would then stall every conversation of the process for the whole cool-down while Chatwoot
  still answers four calls in five (the chaos benchmark measured reply p95 going from ~1 s to ~30 s). The
  default threshold (10) keeps a small sample from tripping it: a worker that has just started, meeting a
  Chatwoot failing a quarter of its calls, would see 5 failures in its first 10 calls about once in 12 starts.
* Logs name the method, the path (never the query string) and the status; never tokens or bodies.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from aibroker.errors import PermanentInboxError, TransientInboxError
from aibroker.logging import get_logger, redact

log = get_logger(__name__)

Recover = Callable[[], Awaitable[Any | None]]


class CircuitOpenError(TransientInboxError):
    """Chatwoot failed too often lately; we are not calling it until the cool-down has passed."""


class CircuitBreaker:
    def __init__(self, *, failure_threshold: int = 10, failure_rate: float = 0.5, window_s: float = 10.0,
                 reset_after_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.failure_rate = failure_rate
        self.window_s = window_s
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._outcomes: deque[tuple[float, bool]] = deque()  # (ended at, failed) within the window
        self._failures = 0  # failed outcomes in `_outcomes`
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_after_s else "open"

    def before_call(self) -> None:
        state = self.state
        if state == "closed":
            return
        if state == "open" or self._trial_in_flight:
            remaining = self.reset_after_s - (self._clock() - (self._opened_at or 0.0))
            raise CircuitOpenError("chatwoot circuit open", retry_after_s=max(remaining, 0.0))
        self._trial_in_flight = True

    def record_success(self) -> None:
        self._trial_in_flight = False
        state = self.state
        if state == "open":  # a call from before the opening: the cool-down still runs
            return
        if state == "half_open":  # the trial succeeded: start afresh
            self._opened_at = None
            self._outcomes.clear()
            self._failures = 0
        self._record(failed=False)

    def record_failure(self) -> None:
        self._trial_in_flight = False
        if self._opened_at is not None:  # the half-open trial failed: wait a full cool-down again
            self._opened_at = self._clock()
            return
        self._record(failed=True)
        ended = len(self._outcomes)
        if self._failures >= self.failure_threshold and self._failures >= self.failure_rate * ended:
            self._opened_at = self._clock()
            log.warning("chatwoot circuit opened: %d of the last %d calls failed within %.0f s",
                        self._failures, ended, self.window_s)

    def _record(self, *, failed: bool) -> None:
        now = self._clock()
        self._outcomes.append((now, failed))
        self._failures += failed
        while self._outcomes and self._outcomes[0][0] < now - self.window_s:
            self._failures -= self._outcomes.popleft()[1]

    def release(self) -> None:
        """The call ended without a verdict (cancelled): let another trial through."""
        self._trial_in_flight = False


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - (time.time() if now is None else now), 0.0)


def _reason(response: httpx.Response) -> str:
    """Chatwoot's own error text (`error` or `message`), redacted and short; never the whole body."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    text = body.get("error") or body.get("message") if isinstance(body, dict) else None
    return redact(str(text))[:200] if text else response.reason_phrase


class ChatwootHttp:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, max_retries: int = 3,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 8.0, max_retry_after_s: float = 30.0,
                 breaker: CircuitBreaker | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                         transport=transport, headers={"Accept": "application/json"},
                                         follow_redirects=False)
        self.max_retries = max(0, max_retries)
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._max_retry_after_s = max_retry_after_s
        self.breaker = breaker or CircuitBreaker()
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def request(self, method: str, path: str, *, token: str, json: Any = None,
                      params: Mapping[str, str] | None = None, retries: int | None = None,
                      recover: Recover | None = None) -> Any:
        """The decoded JSON body (None when empty). `recover`, when given, runs before each retry of a call
        that is not safe to repeat and may return the result the failed attempt produced after all."""
        budget = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return await self._once(method, path, token=token, json=json, params=params)
            except CircuitOpenError:
                raise
            except TransientInboxError as error:
                wait = self._delay(attempt, error.retry_after_s)
                if attempt >= budget or wait is None:
                    raise
                attempt += 1
                log.warning("chatwoot %s %s failed (%s); retry %d/%d in %.2fs",
                            method, path, error.reason, attempt, budget, wait)
                await self._sleep(wait)
                if recover is not None:
                    found = await recover()
                    if found is not None:
                        return found

    def _delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        if retry_after_s is not None:
            if retry_after_s > self._max_retry_after_s:
                return None
            return retry_after_s + self._rng.uniform(0, min(0.1 * retry_after_s, 1.0))
        cap = min(self._backoff_max_s, self._backoff_base_s * 2**attempt)
        return cap * (0.5 + self._rng.random() / 2)

    async def _once(self, method: str, path: str, *, token: str, json: Any,
                    params: Mapping[str, str] | None) -> Any:
        self.breaker.before_call()
        try:
            response = await self._client.request(method, path, json=json, params=params,
                                                  headers={"api_access_token": token})
        except httpx.TimeoutException as error:
            self.breaker.record_failure()
            raise TransientInboxError(f"{method} {path}: timeout ({type(error).__name__})") from None
        except httpx.TransportError as error:
            self.breaker.record_failure()
            raise TransientInboxError(f"{method} {path}: connection error ({type(error).__name__})") from None
        except BaseException:
            self.breaker.release()
            raise
        status = response.status_code
        if status in (408, 429) or status >= 500:
            self.breaker.record_failure()
            raise TransientInboxError(f"{method} {path}: HTTP {status} {_reason(response)}", status=status,
                                      retry_after_s=parse_retry_after(response.headers.get("Retry-After")))
        self.breaker.record_success()
        if status >= 400:
            raise PermanentInboxError(f"{method} {path}: HTTP {status} {_reason(response)}", status=status)
        if status >= 300:  # typically http:// configured for an https:// server
            raise PermanentInboxError(f"{method} {path}: unexpected redirect (HTTP {status}); check "
                                      "CHATWOOT_BASE_URL", status=status)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PermanentInboxError(f"{method} {path}: HTTP {status} with a body that is not JSON",
                                      status=status) from None

    async def aclose(self) -> None:
        await self._client.aclose()
