"""Resume links (adapters/resume_links.py) on real Redis, with the link's clock moved instead of waiting: a link
expires after RESUME_LINK_TTL_S, works once, and only with the secret it was signed with."""

from __future__ import annotations

import pytest

from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.resume_links import ResumeLinks
from aibroker.errors import Gone, NotFound, Unauthorized

TTL_S = 900


async def test_expiry_once_only_and_the_secret(redis_url: str, redis_prefix: str) -> None:
    redis = redis_client(redis_url)
    now = [1_800_000_000.0]
    links = ResumeLinks(redis, redis_prefix, "the-secret", TTL_S, clock=lambda: now[0])
    try:
        token, expires_at = await links.issue(7, "conversation-token-7")
        assert expires_at.timestamp() == now[0] + TTL_S
        now[0] += TTL_S + 2  # past its lifetime: refused as expired, and still unused
        with pytest.raises(Gone, match="expired"):
            await links.redeem(token)
        now[0] -= 4  # within it (the same link, checked at an earlier moment)
        assert await links.redeem(token) == (7, "conversation-token-7")
        with pytest.raises(Gone, match="used already"):
            await links.redeem(token)

        other, _ = await ResumeLinks(redis, redis_prefix, "another-secret", TTL_S, clock=lambda: now[0]).issue(
            8, "conversation-token-8")
        for forged in (other, token[:-3] + "abc", "not-a-token"):
            with pytest.raises(Unauthorized):
                await links.redeem(forged)
        with pytest.raises(NotFound, match="SESSION_SECRET"):
            await ResumeLinks(redis, redis_prefix, None, TTL_S).issue(7, "conversation-token-7")
    finally:
        await redis.aclose()
