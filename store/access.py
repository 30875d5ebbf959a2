"""Who read which consultation, as what, and when: the access log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pydantic import BaseModel
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from store.database import autocommit
from store.tables import AccessLogEntry

ACCESS_LOG_TABLE = cast(Table, AccessLogEntry.__table__)
_LOGGED = insert(ACCESS_LOG_TABLE)


class AccessRecord(BaseModel):
    actor_id: str
    role: str
    action: str
    at: datetime


class Reader(BaseModel):
    """Who reads a consultation's content, and as what: what its access log entry says."""

    actor_id: str
    role: str
    action: str


async def record_access(connection: AsyncConnection, consultation_id: str, reader: Reader) -> None:
    """One entry, one insert: atomic alone, so fit for an autocommit connection."""
    await connection.execute(
        _LOGGED,
        {"consultation_id": consultation_id, **reader.model_dump(), "at": datetime.now(UTC)},
    )


class AccessLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, consultation_id: str, actor_id: str, role: str, action: str) -> None:
        async with autocommit(self._sessions) as connection:
            await record_access(
                connection, consultation_id, Reader(actor_id=actor_id, role=role, action=action)
            )

    async def entries(self, consultation_id: str) -> list[AccessRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AccessLogEntry)
                .where(AccessLogEntry.consultation_id == consultation_id)
                .order_by(AccessLogEntry.at, AccessLogEntry.id)
            )
            return [AccessRecord.model_validate(row, from_attributes=True) for row in rows]
