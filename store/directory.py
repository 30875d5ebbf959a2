"""The clinician directory: who accepts e-consultations, their substitute, practice closed days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import Refusal
from store.tables import Clinician, PracticeClosedDay


class Substitute(BaseModel):
    clinician_id: str
    valid_from: date
    valid_to: date

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


class DirectoryEntry(BaseModel):
    id: str
    name: str
    practice_id: str
    accepts_econsultations: bool
    reply_within_working_days: int = Field(default=5, ge=1, le=30)
    substitute: Substitute | None = None
    specialist_in_general_practice: bool = False

    def active_substitute(self, day: date) -> Substitute | None:
        return self.substitute if self.substitute and self.substitute.active_on(day) else None


class RecipientRefusedError(ValueError):
    """The directory refuses this recipient; `refusal` is a domain.models.Refusal value."""

    def __init__(self, refusal: str, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


def _entry(row: Clinician) -> DirectoryEntry:
    substitute = None
    if row.substitute_id and row.substitute_valid_from and row.substitute_valid_to:
        substitute = Substitute(
            clinician_id=row.substitute_id,
            valid_from=row.substitute_valid_from,
            valid_to=row.substitute_valid_to,
        )
    return DirectoryEntry(
        id=row.id,
        name=row.name,
        practice_id=row.practice_id,
        accepts_econsultations=row.accepts_econsultations,
        reply_within_working_days=row.reply_within_working_days,
        substitute=substitute,
        specialist_in_general_practice=row.specialist_in_general_practice,
    )


class Directory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, clinician_id: str) -> DirectoryEntry | None:
        async with self._sessions() as session:
            row = await session.get(Clinician, clinician_id)
            return _entry(row) if row else None

    async def put(self, entry: DirectoryEntry) -> None:
        substitute = entry.substitute
        async with self._sessions.begin() as session:
            row = await session.get(Clinician, entry.id)
            if row is None:
                row = Clinician(id=entry.id)
                session.add(row)
            row.name = entry.name
            row.practice_id = entry.practice_id
            row.accepts_econsultations = entry.accepts_econsultations
            row.reply_within_working_days = entry.reply_within_working_days
            row.substitute_id = substitute.clinician_id if substitute else None
            row.substitute_valid_from = substitute.valid_from if substitute else None
            row.substitute_valid_to = substitute.valid_to if substitute else None
            row.specialist_in_general_practice = entry.specialist_in_general_practice
            row.updated_at = datetime.now(UTC)

    async def admit_recipient(
        self, clinician_id: str, recipient_id: str | None, day: date
    ) -> DirectoryEntry:
        """The one rule for who may receive a consultation (API at create, workflow at start).

        The clinician, or their substitute active on `day`; when a substitute is active the
        patient must say whom they chose. Both must accept e-consultations.
        """
        clinician = await self.get(clinician_id)
        if clinician is None or not clinician.accepts_econsultations:
            raise RecipientRefusedError(
                Refusal.CLINICIAN_UNAVAILABLE,
                f"clinician {clinician_id} does not accept e-consultations",
            )
        substitute = clinician.active_substitute(day)
        if recipient_id is None and substitute is not None:
            raise RecipientRefusedError(
                Refusal.RECIPIENT_NOT_ALLOWED,
                "the clinician has an active substitute: recipient_id must name the clinician "
                "or the substitute",
            )
        if recipient_id is None or recipient_id == clinician.id:
            return clinician
        if substitute is None or recipient_id != substitute.clinician_id:
            raise RecipientRefusedError(
                Refusal.RECIPIENT_NOT_ALLOWED,
                "recipient_id must be the clinician or their active substitute",
            )
        found = await self.get(substitute.clinician_id)
        if found is None or not found.accepts_econsultations:
            raise RecipientRefusedError(
                Refusal.CLINICIAN_UNAVAILABLE,
                f"substitute {substitute.clinician_id} does not accept e-consultations",
            )
        return found

    async def closed_days(self, practice_id: str) -> list[date]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(PracticeClosedDay.day)
                .where(PracticeClosedDay.practice_id == practice_id)
                .order_by(PracticeClosedDay.day)
            )
            return list(result)

    async def set_closed_days(self, practice_id: str, days: list[date]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(PracticeClosedDay).where(PracticeClosedDay.practice_id == practice_id)
            )
            session.add_all(PracticeClosedDay(practice_id=practice_id, day=d) for d in set(days))
