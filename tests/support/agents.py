"""Console agents for tests, made through the product's own use case (as `aibroker agent add` does)."""

from __future__ import annotations

import asyncio

import httpx

from aibroker.adapters.db.agents import SqlAgents
from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.passwords import Argon2Passwords
from aibroker.config import Settings
from aibroker.domain.console import AgentRecord
from aibroker.usecases.agents import AgentAccounts

PASSWORD = "correct horse battery"


def _run(settings: Settings, work: str, email: str, name: str = "", *, admin: bool = False) -> AgentRecord | bool:
    async def run() -> AgentRecord | bool:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            accounts = AgentAccounts(SqlAgents(session_factory(engine)), Argon2Passwords())
            if work == "add":
                return await accounts.add(email, name, PASSWORD, is_admin=admin)
            return await accounts.remove(email)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def add_agent(settings: Settings, email: str, name: str, *, admin: bool = False) -> AgentRecord:
    agent = _run(settings, "add", email, name, admin=admin)
    assert isinstance(agent, AgentRecord)
    return agent


def remove_agent(settings: Settings, email: str) -> bool:
    return bool(_run(settings, "remove", email))


def sign_in(api: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form's POST; the client keeps the session cookie it sets."""
    return api.post("/console/login", data={"email": email, "password": password}, follow_redirects=False)


def csrf_headers(api: httpx.Client) -> dict[str, str]:
    """What the console page does first: ask who it is, and take the session's CSRF token."""
    response = api.get("/api/console/me")
    response.raise_for_status()
    return {"X-CSRF-Token": str(response.json()["csrf_token"])}
