"""Run-time switches (usecases/rollout.py) on a real database: two processes' controls, one shared store."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.rollout_store import SqlRolloutStore
from aibroker.domain.rollout import Route, Switches
from aibroker.errors import Conflict, InvalidRequest
from aibroker.usecases.rollout import CACHE_TTL_S, RolloutControl


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_change_reaches_every_process_within_the_ttl_and_is_audited(engine: AsyncEngine) -> None:
    assert CACHE_TTL_S <= 5
    environment = Switches(rollout_percentage=100)
    api_clock, worker_clock = Clock(), Clock()
    api = RolloutControl(SqlRolloutStore(session_factory(engine)), environment, "http://n8n/hook", clock=api_clock)
    worker = RolloutControl(SqlRolloutStore(session_factory(engine)), environment, "http://n8n/hook",
                            clock=worker_clock)
    assert (await worker.describe())["source"] == "environment"
    assert (await worker.switches()).rollout_percentage == 100

    assert await api.change("api:anna", rollout_percentage=10) == {"rollout_percentage": [100, 10]}
    assert (await api.switches()).rollout_percentage == 10  # at once where it was changed
    assert (await worker.switches()).rollout_percentage == 100  # cached elsewhere ...
    worker_clock.now += CACHE_TTL_S
    assert (await worker.switches()).rollout_percentage == 10  # ... for at most the TTL

    await worker.change("cli:ben", enable_bullmq_broker=False)
    described = await api.describe()
    assert described["source"] == "run-time change" and described["environment"]["rollout_percentage"] == 100
    assert [(a["actor"], a["changes"]) for a in described["audit"]] == [
        ("cli:ben", {"enable_bullmq_broker": [True, False]}), ("api:anna", {"rollout_percentage": [100, 10]})]
    assert await worker.route_for_new("chatwoot", "1") == Route.LEGACY


async def test_changes_that_need_n8n_are_refused_without_its_url(engine: AsyncEngine) -> None:
    control = RolloutControl(SqlRolloutStore(session_factory(engine)), Switches(), None)
    for change in ({"rollout_percentage": 50}, {"enable_bullmq_broker": False}):
        with pytest.raises(Conflict, match="N8N_AI_BROKER_WEBHOOK_URL"):
            await control.change("api:anna", **change)
    with pytest.raises(InvalidRequest):
        await control.change("api:anna", rollout_percentage=101)
    assert await control.change("api:anna", shadow_mode=True) == {"shadow_mode": [False, True]}
    assert (await control.describe())["audit"][0]["changes"] == {"shadow_mode": [False, True]}
