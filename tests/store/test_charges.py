"""Charges on SQLite and PostgreSQL: the exemption code (and the note of `other`) recorded once
per consultation, by the settle activity; free-text reasons of older charges become codes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from activities.case import CaseActivities
from dev.harness.databases import alembic
from domain.effects import SettleCopayment
from domain.events import Event
from domain.models import ConsultationRecord, CopaymentOutcome, CopaymentStatus, Status
from domain.parties import ExemptionCode, Patient
from store.case_writes import Consultations
from store.charges import Charges
from store.database import create_engine
from store.directory import Directory
from store.tables import Charge
from tests.store.support import NOW, Sessions, database_at

ADULT = Patient(id="patient-1", birth_date=date(1980, 1, 1))
BEFORE_CODES = "0006_figure_counts"


async def charge_row(store: Sessions, consultation_id: str) -> Charge:
    async with store() as session:
        row = await session.scalar(select(Charge).where(Charge.consultation_id == consultation_id))
        assert row is not None
        return row


async def test_an_exempt_charge_keeps_its_code_and_the_note_of_other(store: Sessions) -> None:
    consultation_id = uuid.uuid4().hex
    exempt = CopaymentOutcome(
        status=CopaymentStatus.EXEMPT,
        tariff="2ae",
        amount_nok=Decimal(0),
        settled_at=NOW,
        exemption=ExemptionCode.OTHER,
        exemption_note="war injury (krigsskade)",
    )
    retry = exempt.model_copy(update={"exemption": ExemptionCode.FRIKORT, "exemption_note": None})
    charges = Charges(store)

    assert await charges.record_once(consultation_id, ADULT, exempt) == exempt
    assert await charges.record_once(consultation_id, ADULT, retry) == exempt
    row = await charge_row(store, consultation_id)
    assert (row.exemption, row.exemption_note) == ("other", "war injury (krigsskade)")


async def settled(case: CaseActivities, request: SettleCopayment) -> CopaymentOutcome:
    """The settlement committed as the workflow commits it: the charge with the case row."""
    record = ConsultationRecord(
        consultation_id=request.consultation_id,
        patient_id=request.patient.id,
        practice_id="practice-1",
        status=Status.AWAITING_PATIENT,
        clinician_id=request.clinician_id,
        recipient_id=request.clinician_id,
        created_at=NOW,
        revision=2,
    )
    committed = await case.commit(Event(record=record, settlement=request))
    assert committed.copayment is not None
    return committed.copayment


async def test_the_settle_activity_records_the_declared_code_and_the_rate_it_was_given(
    store: Sessions,
) -> None:
    case = CaseActivities(Directory(store), Consultations(store))
    consultation_id = uuid.uuid4().hex
    declared = SettleCopayment(
        consultation_id=consultation_id,
        patient=ADULT,
        replied_at=NOW,
        clinician_id="9100001",
        specialist_in_general_practice=True,
        exemption=ExemptionCode.OCCUPATIONAL_INJURY,
    )

    outcome = await settled(case, declared)
    again = await settled(case, declared.model_copy(update={"exemption": None}))

    assert (outcome.status, outcome.exemption) == (
        CopaymentStatus.EXEMPT,
        ExemptionCode.OCCUPATIONAL_INJURY,
    )
    assert again == outcome
    row = await charge_row(store, consultation_id)
    assert (row.exemption, row.billed_clinician_id, row.specialist_rate) == (
        "occupational_injury",
        "9100001",
        True,
    )


async def test_the_settle_activity_charges_the_specialist_rate_without_the_directory(
    store: Sessions,
) -> None:
    """The clinician is in no directory: the flag in the request is the rate."""
    case = CaseActivities(Directory(store), Consultations(store))
    request = SettleCopayment(
        consultation_id=uuid.uuid4().hex,
        patient=ADULT,
        replied_at=NOW,
        clinician_id=f"not-in-directory-{uuid.uuid4().hex[:8]}",
    )

    general = await settled(case, request)
    specialist = await settled(
        case,
        request.model_copy(
            update={"consultation_id": uuid.uuid4().hex, "specialist_in_general_practice": True}
        ),
    )

    assert general.status == specialist.status == CopaymentStatus.CHARGED
    assert general.exemption is None
    assert general.amount_nok is not None and specialist.amount_nok is not None
    assert specialist.amount_nok > general.amount_nok


# --- 0007_exemption_codes: free-text reasons already stored --------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database_before_codes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store at the revision before exemption codes."""
    yield from database_at(request, tmp_path, BEFORE_CODES, "econsult_codes")


# (status, the free-text reason stored before the codes) -> (exemption, note) after.
STORED = {
    "under-16": ("exempt", "under_16", "under_age", None),
    "frikort": ("exempt", "frikort", "frikort", None),
    "portal-text": ("exempt", " pregnancy ", "other", "pregnancy"),
    "portal-text-a-code": ("exempt", "military_service", "military_service", None),
    "charged": ("charged", None, None, None),
    "not-billable": ("no_charge", "under_16", None, None),
}


async def execute(url: str, statement: str, **values: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), values)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


@pytest.mark.embedded_postgres
async def test_the_migration_turns_stored_free_text_into_codes_and_back(
    database_before_codes: str,
) -> None:
    url = database_before_codes
    for name, (status, reason, _, _) in STORED.items():
        await execute(
            url,
            "INSERT INTO charges (consultation_id, patient_id, status, tariff, amount_nok, "
            "reason, replied_at, recorded_at) VALUES (:id, 'p', :status, '2ae', 0, :reason, "
            ":at, :at)",
            id=name,
            status=status,
            reason=reason,
            at=NOW - timedelta(days=1),
        )

    alembic(url, "upgrade", "head")
    rows = await execute(url, "SELECT consultation_id, exemption, exemption_note FROM charges")

    assert {row[0]: (row[1], row[2]) for row in rows} == {
        name: (exemption, note) for name, (_, _, exemption, note) in STORED.items()
    }

    alembic(url, "downgrade", BEFORE_CODES)
    rows = await execute(url, "SELECT consultation_id, reason FROM charges")
    back = {row[0]: row[1] for row in rows}
    assert back["under-16"] == "under_16"
    assert back["portal-text"] == "pregnancy"
    assert back["charged"] is None
