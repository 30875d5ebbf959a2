"""Co-payment charges: one settlement per consultation, recorded once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import CopaymentOutcome, CopaymentStatus
from domain.parties import ExemptionCode, Patient
from store.idempotent import insert_once
from store.tables import Charge


class BilledClinician(NamedTuple):
    """Who replied, and whether their specialist rate applied."""

    clinician_id: str
    specialist: bool


class Charges:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record_once(
        self,
        consultation_id: str,
        patient: Patient,
        outcome: CopaymentOutcome,
        billed: BilledClinician | None = None,
    ) -> CopaymentOutcome:
        """Record the settlement; if one exists already (a retry), return that one unchanged."""
        async with self._sessions.begin() as session:
            return await record(session, consultation_id, patient, outcome, billed)


async def record(
    session: AsyncSession,
    consultation_id: str,
    patient: Patient,
    outcome: CopaymentOutcome,
    billed: BilledClinician | None = None,
) -> CopaymentOutcome:
    """`Charges.record_once` in the caller's transaction."""
    assert outcome.settled_at is not None
    inserted = await insert_once(
        session,
        Charge,
        {
            "consultation_id": consultation_id,
            "patient_id": patient.id,
            "status": outcome.status.value,
            "tariff": outcome.tariff,
            "amount_nok": outcome.amount_nok,
            "exemption": outcome.exemption.value if outcome.exemption else None,
            "exemption_note": outcome.exemption_note,
            "claim_set_aside": outcome.claim_set_aside,
            "replied_at": outcome.settled_at,
            "recorded_at": datetime.now(UTC),
            "billed_clinician_id": billed.clinician_id if billed else None,
            "specialist_rate": billed.specialist if billed else None,
        },
        ["consultation_id"],
    )
    if inserted:
        return outcome
    row = await session.get(Charge, consultation_id)
    assert row is not None
    return CopaymentOutcome(
        status=CopaymentStatus(row.status),
        tariff=row.tariff,
        amount_nok=row.amount_nok,
        settled_at=row.replied_at,
        exemption=ExemptionCode(row.exemption) if row.exemption else None,
        exemption_note=row.exemption_note,
        claim_set_aside=row.claim_set_aside,
    )
