"""`aibroker agent add` / `agent remove` (issue #12): the password from a hidden prompt or stdin, never argv."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from aibroker.adapters.db.agents import SqlAgents
from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.passwords import Argon2Passwords
from aibroker.cli import app
from aibroker.config import Settings
from aibroker.usecases.agents import AgentAccounts
from tests.support.db import query


def _signs_in(settings: Settings, email: str, password: str) -> bool:
    async def run() -> bool:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            accounts = AgentAccounts(SqlAgents(session_factory(engine)), Argon2Passwords())
            return await accounts.authenticate(email, password) is not None
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_agent_add_and_remove(e2e_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", e2e_db_url)
    settings = Settings(_env_file=None, DATABASE_URL=e2e_db_url)  # type: ignore[call-arg]
    runner = CliRunner()

    added = runner.invoke(app, ["agent", "add", "Ann.Lee@Example.com", "--name", "Ann Lee", "--admin",
                                "--password-stdin"], input="a long passphrase\n")
    assert added.exit_code == 0, added.output
    assert "agent added: Ann Lee <ann.lee@example.com> (admin)" in added.output
    row = query(settings, "SELECT email, name, is_admin, password_hash FROM agents")[0]
    assert row["email"] == "ann.lee@example.com" and row["is_admin"]
    assert row["password_hash"].startswith("$argon2id$") and "passphrase" not in row["password_hash"]
    assert _signs_in(settings, "ANN.LEE@example.com", "a long passphrase")
    assert not _signs_in(settings, "ann.lee@example.com", "a wrong passphrase")

    # The interactive way: a hidden prompt, asked twice.
    prompted = runner.invoke(app, ["agent", "add", "bo@example.com", "--name", "Bo Tan"],
                             input="another passphrase\nanother passphrase\n")
    assert prompted.exit_code == 0 and "another passphrase" not in prompted.output
    assert _signs_in(settings, "bo@example.com", "another passphrase")

    twice = runner.invoke(app, ["agent", "add", "ann.lee@example.com", "--name", "Ann", "--password-stdin"],
                          input="a long passphrase\n")
    assert twice.exit_code == 2 and "exists already" in twice.output
    short = runner.invoke(app, ["agent", "add", "cy@example.com", "--name", "Cy", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "10 to 1024 characters" in short.output
    bad = runner.invoke(app, ["agent", "add", "not-an-address", "--name", "X", "--password-stdin"],
                        input="a long passphrase\n")
    assert bad.exit_code == 2

    removed = runner.invoke(app, ["agent", "remove", "ANN.LEE@example.com"])
    assert removed.exit_code == 0, removed.output
    assert not _signs_in(settings, "ann.lee@example.com", "a long passphrase")
    assert runner.invoke(app, ["agent", "remove", "ann.lee@example.com"]).exit_code == 1
    assert [r["email"] for r in query(settings, "SELECT email FROM agents")] == ["bo@example.com"]
