"""Resume links ("continue on another device", issue #12 item 7): signed, expiring, usable once.

The link carries an `itsdangerous` token signed with SESSION_SECRET: the conversation id and a random nonce,
timestamped (RESUME_LINK_TTL_S). The conversation's own token (the device asking for the link presented it) waits
under that nonce in Redis for as long as the link lives; redeeming the link takes it with GETDEL, so it works
once, across any number of API processes. The new device gets the same conversation token as the first one (we
keep only its hash, so this is the one moment it can be handed on); the first device keeps working.

Refusals: a token we did not sign → 401; expired, or used already → 410; no SESSION_SECRET → 404 (no links here).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from redis.exceptions import RedisError

from aibroker.adapters.queue.redis_budget import bounded
from aibroker.errors import DependencyUnavailable, Gone, NotFound, Unauthorized

SALT = "aibroker.resume-link"
REDIS_TIMEOUT_S = 2.0


class ResumeLinks:
    def __init__(self, redis: aioredis.Redis, prefix: str, secret: str | None, ttl_s: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock

        class _Signer(TimestampSigner):  # the link's timestamp and its age both by `clock`
            def get_timestamp(self) -> int:
                return int(clock())

        self._signer = URLSafeTimedSerializer(secret, salt=SALT, signer=_Signer) if secret else None
        self.ttl_s = ttl_s

    def _key(self, nonce: str) -> str:
        return f"{self._prefix}:aibroker:resume:{nonce}"

    def _serializer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            raise NotFound("resume links are off on this server (SESSION_SECRET is not set)")
        return self._signer

    async def issue(self, conversation_id: int, conversation_token: str) -> tuple[str, datetime]:
        """A new resume token for this conversation and when it expires."""
        signer = self._serializer()
        nonce = secrets.token_urlsafe(18)
        try:
            async with bounded(REDIS_TIMEOUT_S):
                await self._redis.set(self._key(nonce), f"{conversation_id}:{conversation_token}", ex=self.ttl_s)
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"resume link not stored: {type(error).__name__}") from error
        expires_at = datetime.fromtimestamp(self._clock(), UTC) + timedelta(seconds=self.ttl_s)
        return signer.dumps({"c": conversation_id, "n": nonce}), expires_at

    async def redeem(self, resume_token: str) -> tuple[int, str]:
        """(conversation id, conversation token) for a valid, unused, unexpired resume token."""
        signer = self._serializer()
        try:
            data = signer.loads(resume_token, max_age=self.ttl_s)
        except SignatureExpired as error:
            raise Gone("this link has expired: ask for a new one on your other device") from error
        except BadSignature as error:
            raise Unauthorized("not a valid resume link") from error
        if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("n"), str):
            raise Unauthorized("not a valid resume link")
        try:
            async with bounded(REDIS_TIMEOUT_S):
                stored = await self._redis.getdel(self._key(data["n"]))
        except (TimeoutError, RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"resume link not checked: {type(error).__name__}") from error
        if stored is None:
            raise Gone("this link was used already: ask for a new one on your other device")
        conversation_id, _, token = str(stored).partition(":")
        if int(conversation_id) != data["c"]:
            raise Unauthorized("not a valid resume link")
        return data["c"], token
