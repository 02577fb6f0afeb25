"""Signing in renews a password hash made with older argon2 parameters (issue #12)."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.agents import SqlAgents
from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.passwords import Argon2Passwords
from aibroker.usecases.agents import AgentAccounts


async def test_a_hash_with_old_parameters_is_renewed_at_sign_in(engine: AsyncEngine) -> None:
    agents = SqlAgents(session_factory(engine))
    old = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    await AgentAccounts(agents, old).add("ann@example.com", "Ann", "a long passphrase")
    _, before = await agents.credentials("ann@example.com")  # type: ignore[misc]
    assert "m=8192" in before

    current = AgentAccounts(agents, Argon2Passwords())
    assert await current.authenticate("ann@example.com", "wrong passphrase") is None
    assert (await agents.credentials("ann@example.com"))[1] == before  # type: ignore[index]  # (not on failure)
    assert await current.authenticate("ann@example.com", "a long passphrase") is not None
    _, after = await agents.credentials("ann@example.com")  # type: ignore[misc]
    assert after != before and "m=8192" not in after and not Argon2Passwords().needs_rehash(after)
    assert await current.authenticate("ann@example.com", "a long passphrase") is not None  # the new hash works
