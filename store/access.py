"""Who read which consultation (access log), and the Idempotency-Key register of creates."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.idempotent import insert_once
from store.tables import AccessLogEntry, IdempotencyKey


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


class ClaimedKey(BaseModel):
    """The create an Idempotency-Key stands for: the first request's digest and its case."""

    request_sha256: str
    consultation_id: str


class IdempotencyKeys:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def find(self, caller: str, key: str) -> ClaimedKey | None:
        async with self._sessions() as session:
            row = await session.get(IdempotencyKey, (caller, key))
            if row is None:
                return None
            return ClaimedKey(
                request_sha256=row.request_sha256, consultation_id=row.consultation_id
            )

    async def claim(
        self, caller: str, key: str, request_sha256: str, consultation_id: str
    ) -> ClaimedKey:
        """Register the key for this request, or return what an earlier request registered."""
        async with self._sessions.begin() as session:
            await insert_once(
                session,
                IdempotencyKey,
                {
                    "caller": caller,
                    "key": key,
                    "request_sha256": request_sha256,
                    "consultation_id": consultation_id,
                    "created_at": datetime.now(UTC),
                },
                ["caller", "key"],
            )
            row = await session.get(IdempotencyKey, (caller, key))
            assert row is not None
            return ClaimedKey(
                request_sha256=row.request_sha256, consultation_id=row.consultation_id
            )
