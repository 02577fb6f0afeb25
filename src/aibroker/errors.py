"""One error tree for the whole application.

    AibrokerError
    ├── NotFound              a conversation, message or broker that does not exist   → 404
    ├── InvalidRequest        well-formed but unacceptable input                     → 422/400
    ├── Unauthorized          missing or wrong credentials / signature               → 401
    ├── Forbidden             signed in, but the request lacks its CSRF token         → 403
    ├── Conflict              the request collides with the current state            → 409
    ├── Gone                  a one-time or expiring token already used or expired   → 410
    ├── RateLimited           over an abuse limit (nothing stored or queued)          → 429
    └── DependencyUnavailable Redis, the database or the inbox cannot be reached      → 503
        └── InboxError        the inbox (Chatwoot or built-in) failed
            ├── TransientInboxError  worth retrying (429, 5xx, timeouts)
            └── PermanentInboxError  retrying will not help (4xx other than 429)
"""

from __future__ import annotations


class AibrokerError(Exception):
    """Base of every error we raise on purpose."""


class NotFound(AibrokerError):
    pass


class InvalidRequest(AibrokerError):
    pass


class Unauthorized(AibrokerError):
    pass


class Forbidden(AibrokerError):
    pass


class Conflict(AibrokerError):
    pass


class Gone(AibrokerError):
    pass


class RateLimited(AibrokerError):
    """Over an abuse limit; `retry_after_s` is when the limit's window frees again (HTTP 429, Retry-After)."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(f"{reason}; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ComeBackLater(AibrokerError):
    """Not yet: the job should run again in `after_s` seconds, without spending an attempt (a reply waiting out its
    human-like delay: the wait is a delayed job in Redis, not a worker slot held asleep)."""

    def __init__(self, after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.after_s = after_s


class DependencyUnavailable(AibrokerError):
    """A part we depend on is down; callers should retry later (HTTP 503). `retry_after_s`, when the part said
    when to come back, lets the job queue delay a job that long without spending one of its attempts."""

    def __init__(self, part: str, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{part} unavailable: {reason}")
        self.part = part
        self.reason = reason
        self.retry_after_s = retry_after_s


class InboxError(DependencyUnavailable):
    def __init__(self, reason: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__("inbox", reason, retry_after_s=retry_after_s)
        self.status = status


class TransientInboxError(InboxError):
    """Retry with backoff: rate limited, server error, timeout, connection refused, open circuit."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(reason, status=status, retry_after_s=retry_after_s)


class PermanentInboxError(InboxError):
    """The inbox refused the request for a reason a retry cannot fix."""
