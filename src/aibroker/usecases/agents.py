"""Agent accounts for the console: add, remove, sign in (argon2 hashes; a hash with old parameters is renewed)."""

from __future__ import annotations

import asyncio

from aibroker.domain.console import MAX_AGENT_NAME, AgentRecord, normalize_email
from aibroker.domain.ports import AgentStore, PasswordHashing
from aibroker.errors import Conflict, InvalidRequest

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a bound keeps a sign-in request from costing much


class AgentAccounts:
    def __init__(self, store: AgentStore, passwords: PasswordHashing) -> None:
        self._store = store
        self._passwords = passwords
        # Verified against when the address has no account, so an unknown address costs as much time as a wrong
        # password (response times do not tell which addresses have accounts). Made on first use.
        self._decoy: str | None = None

    async def add(self, email: str, name: str, password: str, *, is_admin: bool = False) -> AgentRecord:
        try:
            address = normalize_email(email)
        except ValueError as error:
            raise InvalidRequest(f"{email!r} is not an e-mail address") from error
        name = " ".join(name.split())
        if not name or len(name) > MAX_AGENT_NAME:
            raise InvalidRequest(f"the name must have 1 to {MAX_AGENT_NAME} characters")
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidRequest(f"the password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
        agent = await self._store.add(address, name, self._passwords.hash(password), is_admin=is_admin)
        if agent is None:
            raise Conflict(f"an agent with the address {address} exists already (remove it first)")
        return agent

    async def remove(self, email: str) -> bool:
        try:
            return await self._store.remove(normalize_email(email))
        except ValueError:
            return False

    async def authenticate(self, email: str, password: str) -> AgentRecord | None:
        """The agent, if this is its password; None otherwise (no account, wrong password, removed)."""
        try:
            address = normalize_email(email)
        except ValueError:
            address = None
        found = await self._store.credentials(address) if address and len(password) <= MAX_PASSWORD_LENGTH \
            else None
        # argon2 takes tens of milliseconds of CPU on purpose: off the event loop, so other requests go on.
        if found is None:
            if self._decoy is None:
                self._decoy = await asyncio.to_thread(self._passwords.hash, "decoy, never anyone's password")
            await asyncio.to_thread(self._passwords.verify, self._decoy, password[:MAX_PASSWORD_LENGTH])
            return None
        agent, password_hash = found
        if not await asyncio.to_thread(self._passwords.verify, password_hash, password):
            return None
        renewed = await asyncio.to_thread(self._passwords.hash, password) \
            if self._passwords.needs_rehash(password_hash) else None
        await self._store.signed_in(agent.id, renewed)
        return agent

    async def get(self, agent_id: int) -> AgentRecord | None:
        return await self._store.get(agent_id)
