"""Who read which consultation, as what, and when: the access log.

Reads of content (a consultation, an attachment), lists that name consultations (the inbox,
a patient's list) and decodes of a consultation's workflow payloads (the codec endpoint) each
write one entry per consultation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from pydantic import BaseModel
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from store.database import autocommit
from store.request_tables import AccessLogEntry

ACCESS_LOG_TABLE = cast(Table, AccessLogEntry.__table__)
_LOGGED = insert(ACCESS_LOG_TABLE)


class AccessRecord(BaseModel):
    actor_id: str
    role: str
    action: str
    at: datetime
    practice_id: str | None = None


class Reader(BaseModel):
    """Who reads a consultation's content, and as what: what its access log entry says."""

    actor_id: str
    role: str
    action: str
    # The practice a record system reads for; None for every other reader.
    practice_id: str | None = None


async def record_access(
    connection: AsyncConnection, consultation_ids: str | Sequence[str], reader: Reader
) -> None:
    """One entry per consultation, one insert: atomic alone, so fit for an autocommit
    connection."""
    ids = [consultation_ids] if isinstance(consultation_ids, str) else consultation_ids
    if not ids:
        return
    at = datetime.now(UTC)
    await connection.execute(
        _LOGGED, [{"consultation_id": cid, **reader.model_dump(), "at": at} for cid in ids]
    )


def _nobodys_practice() -> str | None:
    return None


class AccessLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        practice_of_reader: Callable[[], str | None] = _nobodys_practice,
    ) -> None:
        """`practice_of_reader`: the practice the current reader acts for (the API's caller),
        written into entries made through `record`."""
        self._sessions = sessions
        self._practice_of_reader = practice_of_reader

    async def record(self, consultation_id: str, actor_id: str, role: str, action: str) -> None:
        reader = Reader(
            actor_id=actor_id, role=role, action=action, practice_id=self._practice_of_reader()
        )
        await self.record_all([consultation_id], reader)

    async def record_all(self, consultation_ids: Sequence[str], reader: Reader) -> None:
        """One entry for each of `consultation_ids`, as `reader` (a list, a decode)."""
        async with autocommit(self._sessions) as connection:
            await record_access(connection, consultation_ids, reader)

    async def entries(self, consultation_id: str) -> list[AccessRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AccessLogEntry)
                .where(AccessLogEntry.consultation_id == consultation_id)
                .order_by(AccessLogEntry.at, AccessLogEntry.id)
            )
            return [AccessRecord.model_validate(row, from_attributes=True) for row in rows]
