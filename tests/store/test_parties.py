"""Relations, absences and the recipients query on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import Refusal
from domain.working_days import reply_due_at
from store.directory import (
    Absence,
    Directory,
    DirectoryEntry,
    RecipientRefusedError,
    Relation,
    RelationKind,
    Substitute,
)
from store.recipients import Recipients, RecipientSubstitute, UnavailableReason

# Wednesday 24 March 2027, 09:00 Oslo: Maundy Thursday and Easter Monday are ahead.
NOW = datetime(2027, 3, 24, 8, 0, tzinfo=UTC)
TODAY = date(2027, 3, 24)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _clinician(directory: Directory, practice: str, **fields: object) -> str:
    clinician_id = _id("hpr")
    await directory.put(
        DirectoryEntry.model_validate(
            {
                "id": clinician_id,
                "name": f"Dr. {clinician_id}",
                "practice_id": practice,
                "accepts_econsultations": True,
                **fields,
            }
        )
    )
    return clinician_id


async def _relate(
    directory: Directory,
    patient: str,
    clinician: str,
    kind: RelationKind = RelationKind.REGULAR_GP,
    valid_to: date | None = None,
) -> None:
    await directory.put_relation(
        Relation(
            patient_id=patient,
            clinician_id=clinician,
            kind=kind,
            valid_from=date(2020, 1, 1),
            valid_to=valid_to,
        )
    )


async def test_recipients_answer_availability_substitute_and_the_practice_calendar(
    store: async_sessionmaker[AsyncSession],
) -> None:
    directory, practice, patient = Directory(store), _id("practice"), _id("patient")
    await directory.set_closed_days(practice, [date(2027, 3, 30), date(2027, 3, 31)])
    vikar = await _clinician(directory, practice, reply_within_working_days=3)
    gp = await _clinician(
        directory,
        practice,
        substitute=Substitute(clinician_id=vikar, valid_from=TODAY, valid_to=date(2027, 4, 9)),
        absences=[Absence(starts_on=date(2027, 3, 20), ends_on=date(2027, 3, 31))],
    )
    treating = await _clinician(directory, practice, reply_within_working_days=2)
    refusing = await _clinician(directory, practice, accepts_econsultations=False)
    ended = await _clinician(directory, practice)
    await _relate(directory, patient, gp)
    await _relate(directory, patient, treating, RelationKind.TREATMENT)
    await _relate(directory, patient, refusing, RelationKind.TREATMENT)
    await _relate(directory, patient, ended, RelationKind.TREATMENT, valid_to=date(2027, 3, 23))
    closed = [date(2027, 3, 30), date(2027, 3, 31)]

    found = {r.clinician_id: r for r in await Recipients(store).of_patient(patient, NOW)}

    assert set(found) == {gp, treating, refusing}
    assert found[gp].kind == RelationKind.REGULAR_GP
    assert (found[gp].available, found[gp].unavailable_reason) == (True, UnavailableReason.ABSENT)
    assert found[gp].substitute == RecipientSubstitute(
        clinician_id=vikar, name=f"Dr. {vikar}", valid_to=date(2027, 4, 9)
    )
    # The substitute answers: their reply time, the practice's closed days and Easter.
    assert found[gp].expected_reply_by == reply_due_at(NOW, 3, closed)
    assert found[treating].expected_reply_by == reply_due_at(NOW, 2, closed)
    assert found[treating].expected_reply_by == datetime(2027, 4, 2, 21, 59, 59, tzinfo=UTC)
    assert (found[treating].available, found[treating].substitute) == (True, None)
    assert (found[refusing].available, found[refusing].unavailable_reason) == (
        False,
        UnavailableReason.NOT_ACCEPTING,
    )
    assert found[refusing].expected_reply_by is None


async def test_admission_needs_a_relation_and_a_present_recipient(
    store: async_sessionmaker[AsyncSession],
) -> None:
    directory, practice, patient = Directory(store), _id("practice"), _id("patient")
    gp = await _clinician(
        directory,
        practice,
        absences=[
            Absence(starts_on=date(2027, 3, 22), ends_on=date(2027, 3, 25)),
            Absence(starts_on=date(2027, 3, 26), ends_on=date(2027, 3, 28)),
        ],
    )

    with pytest.raises(RecipientRefusedError) as unrelated:
        await directory.admit_recipient(patient, gp, gp, TODAY)
    assert unrelated.value.refusal == Refusal.NO_RELATION
    await _relate(directory, patient, gp)
    with pytest.raises(RecipientRefusedError) as absent:
        await directory.admit_recipient(patient, gp, gp, TODAY)
    assert absent.value.refusal == Refusal.CLINICIAN_UNAVAILABLE
    assert "back on 2027-03-29" in str(absent.value)
    assert (await directory.admit_recipient(patient, gp, gp, date(2027, 3, 29))).id == gp


async def test_ending_a_relation_keeps_it_on_record_until_the_day_before(
    store: async_sessionmaker[AsyncSession],
) -> None:
    directory, patient = Directory(store), _id("patient")
    gp = await _clinician(directory, _id("practice"))
    await _relate(directory, patient, gp)

    assert await directory.end_relation(patient, gp, TODAY)

    relation = await directory.relation(patient, gp)
    assert relation is not None and relation.valid_to == date(2027, 3, 23)
    assert not relation.active_on(TODAY)
    assert not await directory.end_relation(patient, "nobody", TODAY)


async def test_a_reassignment_stays_in_the_practice(
    store: async_sessionmaker[AsyncSession],
) -> None:
    directory, practice = Directory(store), _id("practice")
    colleague = await _clinician(directory, practice)
    elsewhere = await _clinician(directory, _id("practice"))
    refusing = await _clinician(directory, practice, accepts_econsultations=False)

    assert (await directory.admit_reassignment(colleague, practice, TODAY)).id == colleague
    for other, refusal in (
        (elsewhere, Refusal.RECIPIENT_NOT_ALLOWED),
        (refusing, Refusal.CLINICIAN_UNAVAILABLE),
        ("nobody", Refusal.RECIPIENT_NOT_ALLOWED),
    ):
        with pytest.raises(RecipientRefusedError) as refused:
            await directory.admit_reassignment(other, practice, TODAY)
        assert refused.value.refusal == refusal
