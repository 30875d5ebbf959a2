"""The clinician directory: who accepts e-consultations, their substitute, practice closed days.

Also the parties: which patient may write to which clinician (relations), and absences.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import Row, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from domain.models import Refusal
from store.database import autocommit
from store.tables import Clinician, ClinicianAbsence, PatientRelation, Practice, PracticeClosedDay


class Substitute(BaseModel):
    clinician_id: str
    valid_from: date
    valid_to: date

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


class Absence(BaseModel):
    starts_on: date
    ends_on: date


class DirectoryEntry(BaseModel):
    id: str
    name: str
    practice_id: str
    accepts_econsultations: bool
    reply_within_working_days: int = Field(default=5, ge=1, le=30)
    substitute: Substitute | None = None
    specialist_in_general_practice: bool = False
    absences: list[Absence] = []

    def active_substitute(self, day: date) -> Substitute | None:
        return self.substitute if self.substitute and self.substitute.active_on(day) else None

    def back_on(self, day: date) -> date | None:
        """The first day after the absence covering `day` (back-to-back absences joined)."""
        back = None
        probe = day
        while covering := next(
            (a for a in self.absences if a.starts_on <= probe <= a.ends_on), None
        ):
            back = probe = covering.ends_on + timedelta(days=1)
        return back


class RelationKind(StrEnum):
    REGULAR_GP = "regular_gp"
    TREATMENT = "treatment"


class Relation(BaseModel):
    patient_id: str
    clinician_id: str
    kind: RelationKind
    valid_from: date
    valid_to: date | None = None

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class RecipientRefusedError(ValueError):
    """The directory refuses this recipient; `refusal` is a domain.models.Refusal value."""

    def __init__(self, refusal: str, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


def _entry(row: Row[Any], absences: list[Absence]) -> DirectoryEntry:
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
        absences=absences,
    )


def _can_receive(entry: DirectoryEntry, day: date) -> DirectoryEntry:
    if not entry.accepts_econsultations:
        raise RecipientRefusedError(
            Refusal.CLINICIAN_UNAVAILABLE,
            f"clinician {entry.id} does not accept e-consultations",
        )
    back = entry.back_on(day)
    if back is not None:
        raise RecipientRefusedError(
            Refusal.CLINICIAN_UNAVAILABLE,
            f"clinician {entry.id} is absent and back on {back.isoformat()}",
        )
    return entry


def _require_relation(relation: Relation | None, clinician_id: str, day: date) -> None:
    if relation is not None and relation.active_on(day):
        return
    detail = f"the patient has no relation with clinician {clinician_id} on {day.isoformat()}"
    if relation is not None and relation.valid_to is not None and relation.valid_to < day:
        detail = (
            f"the patient's relation with clinician {clinician_id} ended on "
            f"{relation.valid_to.isoformat()}"
        )
    raise RecipientRefusedError(Refusal.NO_RELATION, detail)


_CLINICIANS = cast(Table, Clinician.__table__)
_ABSENCES = cast(Table, ClinicianAbsence.__table__)
_RELATIONS = cast(Table, PatientRelation.__table__)
_PRACTICES = cast(Table, Practice.__table__)
# The clinician, their absences and their practice's switch in one statement: one row per
# absence (the clinician's columns repeated), or one row with null absence columns; a null
# switch when the practice has no record (it accepts).
_ENTRY = (
    select(
        _CLINICIANS,
        _ABSENCES.c.starts_on.label("absence_starts_on"),
        _ABSENCES.c.ends_on.label("absence_ends_on"),
        _PRACTICES.c.accepts_econsultations.label("practice_accepts"),
    )
    .outerjoin(_ABSENCES, _ABSENCES.c.clinician_id == _CLINICIANS.c.id)
    .outerjoin(_PRACTICES, _PRACTICES.c.practice_id == _CLINICIANS.c.practice_id)
    .where(_CLINICIANS.c.id == bindparam("id"))
    .order_by(_ABSENCES.c.starts_on)
)
_RELATION = select(_RELATIONS).where(
    _RELATIONS.c.patient_id == bindparam("patient_id"),
    _RELATIONS.c.clinician_id == bindparam("clinician_id"),
)


async def _entry_on(connection: AsyncConnection, clinician_id: str) -> DirectoryEntry | None:
    found = await _entry_and_practice_on(connection, clinician_id)
    return found[0] if found else None


async def _entry_and_practice_on(
    connection: AsyncConnection, clinician_id: str
) -> tuple[DirectoryEntry, bool] | None:
    """The clinician's entry, and whether their practice takes new e-consultations."""
    rows = (await connection.execute(_ENTRY, {"id": clinician_id})).all()
    if not rows:
        return None
    absences = [
        Absence(starts_on=row.absence_starts_on, ends_on=row.absence_ends_on)
        for row in rows
        if row.absence_starts_on is not None
    ]
    return _entry(rows[0], absences), rows[0].practice_accepts is not False


async def _relation_on(
    connection: AsyncConnection, patient_id: str, clinician_id: str
) -> Relation | None:
    row = (
        await connection.execute(
            _RELATION, {"patient_id": patient_id, "clinician_id": clinician_id}
        )
    ).first()
    return Relation.model_validate(row._mapping) if row else None


async def _admissible_entry_on(
    connection: AsyncConnection, clinician_id: str, role: str
) -> DirectoryEntry:
    """The clinician (or substitute) in the directory, in a practice that takes new
    e-consultations: a practice switched off takes none for any of its clinicians."""
    found = await _entry_and_practice_on(connection, clinician_id)
    if found is None:
        raise RecipientRefusedError(
            Refusal.CLINICIAN_UNAVAILABLE, f"{role} {clinician_id} does not accept e-consultations"
        )
    entry, practice_accepts = found
    if not practice_accepts:
        raise RecipientRefusedError(
            Refusal.CLINICIAN_UNAVAILABLE,
            f"practice {entry.practice_id} does not accept new e-consultations",
        )
    return entry


async def _admit_recipient(
    connection: AsyncConnection,
    patient_id: str | None,
    clinician_id: str,
    recipient_id: str | None,
    day: date,
) -> DirectoryEntry:
    if patient_id is not None:
        _require_relation(
            await _relation_on(connection, patient_id, clinician_id), clinician_id, day
        )
    clinician = await _admissible_entry_on(connection, clinician_id, "clinician")
    substitute = clinician.active_substitute(day)
    if recipient_id is None and substitute is not None:
        raise RecipientRefusedError(
            Refusal.RECIPIENT_NOT_ALLOWED,
            "the clinician has an active substitute: recipient_id must name the clinician "
            "or the substitute",
        )
    if recipient_id is None or recipient_id == clinician.id:
        return _can_receive(clinician, day)
    if substitute is None or recipient_id != substitute.clinician_id:
        raise RecipientRefusedError(
            Refusal.RECIPIENT_NOT_ALLOWED,
            "recipient_id must be the clinician or their active substitute",
        )
    found = await _admissible_entry_on(connection, substitute.clinician_id, "substitute")
    return _can_receive(found, day)


class Directory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, clinician_id: str) -> DirectoryEntry | None:
        async with autocommit(self._sessions) as connection:
            return await _entry_on(connection, clinician_id)

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
            await session.execute(
                delete(ClinicianAbsence).where(ClinicianAbsence.clinician_id == entry.id)
            )
            session.add_all(
                ClinicianAbsence(clinician_id=entry.id, starts_on=a.starts_on, ends_on=a.ends_on)
                for a in entry.absences
            )

    async def admit_recipient(
        self, patient_id: str | None, clinician_id: str, recipient_id: str | None, day: date
    ) -> DirectoryEntry:
        """The one rule for who may receive a consultation (API at create, workflow at start).

        The patient has an active relation with the clinician on `day`; the recipient is the
        clinician, or their substitute active on `day` (when one is active the patient must say
        whom they chose); the recipient accepts e-consultations and is not absent. A start
        recorded before relations existed carries no patient id and skips the relation.
        """
        # One connection for the few reads: each is a fact on its own, no snapshot to share.
        async with autocommit(self._sessions) as connection:
            return await _admit_recipient(connection, patient_id, clinician_id, recipient_id, day)

    async def admit_reassignment(
        self, recipient_id: str, practice_id: str, day: date
    ) -> DirectoryEntry:
        """The one rule for a new recipient: same practice, accepts, not absent on `day`."""
        found = await self.get(recipient_id)
        if found is None or found.practice_id != practice_id:
            raise RecipientRefusedError(
                Refusal.RECIPIENT_NOT_ALLOWED,
                f"clinician {recipient_id} is not in practice {practice_id}",
            )
        return _can_receive(found, day)

    # --- relations ---

    async def relation(self, patient_id: str, clinician_id: str) -> Relation | None:
        async with autocommit(self._sessions) as connection:
            return await _relation_on(connection, patient_id, clinician_id)

    async def put_relation(self, relation: Relation) -> bool:
        """Record (or replace) a relation; True when it is new."""
        async with self._sessions.begin() as session:
            key = (relation.patient_id, relation.clinician_id)
            row = await session.get(PatientRelation, key)
            created = row is None
            if row is None:
                row = PatientRelation(patient_id=key[0], clinician_id=key[1])
                session.add(row)
            row.kind = relation.kind.value
            row.valid_from = relation.valid_from
            row.valid_to = relation.valid_to
            row.updated_at = datetime.now(UTC)
            return created

    async def end_relation(self, patient_id: str, clinician_id: str, day: date) -> bool:
        """End a relation before `day` (kept for the record); False when there is none.

        A relation that had not begun before `day` is removed. Open consultations stay as they are.
        """
        async with self._sessions.begin() as session:
            row = await session.get(PatientRelation, (patient_id, clinician_id))
            if row is None:
                return False
            last_day = day - timedelta(days=1)
            if row.valid_from > last_day:
                await session.delete(row)
            elif row.valid_to is None or row.valid_to > last_day:
                row.valid_to = last_day
                row.updated_at = datetime.now(UTC)
            return True

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
