"""Default frikort register: frikort periods recorded through the admin API."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.idempotent import upsert_newer
from store.tables import Frikort


class FrikortTable:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, patient_id: str, valid_from: date, valid_to: date) -> None:
        """One row per (patient, valid_from); a repeat, or a corrected end date, rewrites it."""
        async with self._sessions.begin() as session:
            await upsert_newer(
                session,
                Frikort,
                {
                    "patient_id": patient_id,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "updated_at": datetime.now(UTC),
                },
                ["patient_id", "valid_from"],
                "updated_at",
            )

    async def holds_frikort(self, patient_id: str, on_day: date) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(Frikort.patient_id)
                .where(
                    Frikort.patient_id == patient_id,
                    Frikort.valid_from <= on_day,
                    Frikort.valid_to >= on_day,
                )
                .limit(1)
            )
            return found is not None
