"""Practices: each practice's own settings, kept by admins, read by the API and the worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.idempotent import upsert_newer
from store.tables import Practice as PracticeRow


class Practice(BaseModel):
    """A practice record; a practice without one gets the service-wide defaults."""

    practice_id: str
    name: str
    decline_message: str | None = None


def _columns(practice: Practice) -> dict[str, Any]:
    # One column per field for now; a nested field (a webhook, a record system) gets its
    # columns here and is put back together in `_practice`.
    return practice.model_dump(mode="python")


def _practice(row: PracticeRow) -> Practice:
    return Practice.model_validate(row, from_attributes=True)


class Practices:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def put(self, practice: Practice) -> None:
        """Create or replace the practice's record (a PUT: every field as given)."""
        values = _columns(practice) | {"updated_at": datetime.now(UTC)}
        async with self._sessions.begin() as session:
            await upsert_newer(session, PracticeRow, values, ["practice_id"], "updated_at")

    async def get(self, practice_id: str) -> Practice | None:
        async with self._sessions() as session:
            row = await session.get(PracticeRow, practice_id)
            return _practice(row) if row else None
