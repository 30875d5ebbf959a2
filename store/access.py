"""Who read which consultation, as what, and when: the access log."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.tables import AccessLogEntry


class AccessRecord(BaseModel):
    actor_id: str
    role: str
    action: str
    at: datetime


class AccessLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, consultation_id: str, actor_id: str, role: str, action: str) -> None:
        async with self._sessions.begin() as session:
            session.add(
                AccessLogEntry(
                    consultation_id=consultation_id,
                    actor_id=actor_id,
                    role=role,
                    action=action,
                    at=datetime.now(UTC),
                )
            )

    async def entries(self, consultation_id: str) -> list[AccessRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AccessLogEntry)
                .where(AccessLogEntry.consultation_id == consultation_id)
                .order_by(AccessLogEntry.at, AccessLogEntry.id)
            )
            return [AccessRecord.model_validate(row, from_attributes=True) for row in rows]
