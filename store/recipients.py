"""Whom a patient may write to today: one indexed query over relations, directory, substitute.

Relations by patient (primary key range), each clinician and their substitute active today by
primary key, absences by (clinician, start), and the upcoming closed days of their practices by
(practice, day), so the answer costs the same with a million relations as with ten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Executable,
    Row,
    and_,
    bindparam,
    exists,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.working_days import oslo_day, reply_due_at
from store.directory import RelationKind
from store.tables import Clinician, ClinicianAbsence, PatientRelation, Practice, PracticeClosedDay

# Closed days further ahead than this cannot move a deadline of at most 30 working days.
CLOSED_DAYS_AHEAD = timedelta(days=366)


class UnavailableReason(StrEnum):
    """Why a clinician cannot take a message now, in this order of precedence."""

    PRACTICE_NOT_ACCEPTING = "practice_not_accepting"
    NOT_ACCEPTING = "not_accepting"
    ABSENT = "absent"


class RecipientSubstitute(BaseModel):
    clinician_id: str
    name: str
    valid_to: date


class Recipient(BaseModel):
    clinician_id: str
    name: str
    practice_id: str
    kind: RelationKind
    available: bool
    unavailable_reason: UnavailableReason | None
    reply_within_working_days: int
    expected_reply_by: datetime | None
    substitute: RecipientSubstitute | None


def _absent(clinician: type[Clinician], day: BindParameter[date]) -> ColumnElement[bool]:
    return exists().where(
        ClinicianAbsence.clinician_id == clinician.id,
        ClinicianAbsence.starts_on <= day,
        ClinicianAbsence.ends_on >= day,
    )


def _recipients_query() -> Executable:
    """Built once: the statement is the same for every patient, only its parameters change."""
    day = bindparam("day", type_=Date)
    gp = aliased(Clinician, name="gp")
    sub = aliased(Clinician, name="sub")
    # A practice without a record accepts (a null here).
    gp_practice = aliased(Practice, name="gp_practice")
    sub_practice = aliased(Practice, name="sub_practice")
    relation = PatientRelation
    closed = PracticeClosedDay
    return (
        select(
            relation.clinician_id,
            relation.kind,
            gp.name,
            gp.practice_id,
            gp.accepts_econsultations,
            gp_practice.accepts_econsultations.label("practice_accepts"),
            gp.reply_within_working_days,
            _absent(gp, day).label("absent"),
            sub.id.label("sub_id"),
            sub.name.label("sub_name"),
            gp.substitute_valid_to,
            sub.accepts_econsultations.label("sub_accepts"),
            sub_practice.accepts_econsultations.label("sub_practice_accepts"),
            sub.reply_within_working_days.label("sub_reply_within"),
            sub.practice_id.label("sub_practice_id"),
            _absent(sub, day).label("sub_absent"),
            closed.practice_id.label("closed_practice"),
            closed.day.label("closed_day"),
        )
        .select_from(relation)
        .join(gp, gp.id == relation.clinician_id)
        .outerjoin(
            sub,
            and_(
                sub.id == gp.substitute_id,
                gp.substitute_valid_from <= day,
                gp.substitute_valid_to >= day,
            ),
        )
        .outerjoin(gp_practice, gp_practice.practice_id == gp.practice_id)
        .outerjoin(sub_practice, sub_practice.practice_id == sub.practice_id)
        .outerjoin(
            closed,
            and_(
                or_(closed.practice_id == gp.practice_id, closed.practice_id == sub.practice_id),
                closed.day > day,
                closed.day <= bindparam("horizon", type_=Date),
            ),
        )
        .where(
            relation.patient_id == bindparam("patient_id"),
            relation.valid_from <= day,
            or_(relation.valid_to.is_(None), relation.valid_to >= day),
        )
        .order_by(relation.kind, relation.clinician_id)
    )


_QUERY = _recipients_query()


def _reason(
    practice_accepts: bool | None, accepts: bool | None, absent: bool | None
) -> UnavailableReason | None:
    if practice_accepts is False:
        return UnavailableReason.PRACTICE_NOT_ACCEPTING
    if not accepts:
        return UnavailableReason.NOT_ACCEPTING
    return UnavailableReason.ABSENT if absent else None


class Recipients:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def of_patient(self, patient_id: str, now: datetime) -> list[Recipient]:
        """Every relation active today, regular GP first, with whom a message sent now reaches.

        The substitute is listed only while active and able to take the message; the reason
        names why the clinician themselves cannot (the portal then offers the substitute).
        """
        day = oslo_day(now)
        params = {"patient_id": patient_id, "day": day, "horizon": day + CLOSED_DAYS_AHEAD}
        async with self._sessions() as session:
            rows: Sequence[Row[Any]] = (await session.execute(_QUERY, params)).all()
        closed_days: dict[str, set[date]] = defaultdict(set)
        firsts: dict[str, Row[Any]] = {}
        for row in rows:
            firsts.setdefault(row.clinician_id, row)
            if row.closed_day is not None:
                closed_days[row.closed_practice].add(row.closed_day)
        return [_recipient(row, closed_days, now) for row in firsts.values()]


def _recipient(r: Row[Any], closed_days: dict[str, set[date]], now: datetime) -> Recipient:
    reason = _reason(r.practice_accepts, r.accepts_econsultations, r.absent)
    substitute = None
    # A practice that takes no new e-consultations takes none through a substitute either.
    offers_substitute = reason != UnavailableReason.PRACTICE_NOT_ACCEPTING
    substitute_reason = _reason(r.sub_practice_accepts, r.sub_accepts, r.sub_absent)
    if offers_substitute and r.sub_id is not None and substitute_reason is None:
        substitute = RecipientSubstitute(
            clinician_id=r.sub_id,
            name=r.sub_name,
            valid_to=r.substitute_valid_to,
        )
    expected = None
    if reason is None:
        expected = reply_due_at(now, r.reply_within_working_days, closed_days[r.practice_id])
    elif substitute is not None:
        expected = reply_due_at(now, r.sub_reply_within, closed_days[r.sub_practice_id])
    return Recipient(
        clinician_id=r.clinician_id,
        name=r.name,
        practice_id=r.practice_id,
        kind=r.kind,
        available=reason is None or substitute is not None,
        unavailable_reason=reason,
        reply_within_working_days=r.reply_within_working_days,
        expected_reply_by=expected,
        substitute=substitute,
    )
