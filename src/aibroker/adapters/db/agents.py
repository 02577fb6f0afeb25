"""The console's agent accounts in SQL (table `agents`)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.models import Agent, utcnow
from aibroker.domain.console import AgentRecord


def _agent(row: Agent) -> AgentRecord:
    return AgentRecord.model_validate(row, from_attributes=True)


class SqlAgents:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, email: str, name: str, password_hash: str, *, is_admin: bool) -> AgentRecord | None:
        async with self._sessions() as session:
            row = Agent(email=email, name=name, password_hash=password_hash, is_admin=is_admin)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # the unique e-mail: this address has an account already
                await session.rollback()
                return None
            return _agent(row)

    async def remove(self, email: str) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(Agent).where(Agent.email == email))
            return bool(getattr(result, "rowcount", 0))

    async def get(self, agent_id: int) -> AgentRecord | None:
        async with self._sessions() as session:
            row = await session.get(Agent, agent_id)
            return _agent(row) if row else None

    async def credentials(self, email: str) -> tuple[AgentRecord, str] | None:
        async with self._sessions() as session:
            row = await session.scalar(select(Agent).where(Agent.email == email))
            return (_agent(row), row.password_hash) if row else None

    async def signed_in(self, agent_id: int, new_hash: str | None) -> None:
        values: dict[str, object] = {"last_login_at": utcnow()}
        if new_hash is not None:
            values["password_hash"] = new_hash
        async with self._sessions() as session, session.begin():
            await session.execute(update(Agent).where(Agent.id == agent_id).values(**values))
