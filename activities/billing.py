"""Co-payment activities: ask the frikort register, decide by the billing rules, record once."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from activities.adapters import FrikortRegister
from domain.copayment import DEFAULT_TARIFFS, TariffRate, decide_copayment, exemption_reason
from domain.models import CopaymentOutcome, FrikortAnswer, FrikortQuestion, SettleCopayment
from domain.working_days import oslo_day
from store.charges import BilledClinician, Charges
from store.directory import Directory


class BillingActivities:
    def __init__(
        self,
        charges: Charges,
        directory: Directory,
        frikort_register: FrikortRegister,
        tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS,
    ) -> None:
        self._charges = charges
        self._directory = directory
        self._frikort_register = frikort_register
        self._tariffs = tariffs

    @activity.defn
    async def ask_frikort_register(self, question: FrikortQuestion) -> FrikortAnswer:
        """An unreachable register raises, and the workflow's retry policy waits it out."""
        holds = await self._frikort_register.holds_frikort(question.patient_id, question.on_day)
        return FrikortAnswer(holds_frikort=holds)

    @activity.defn
    async def settle_copayment(self, request: SettleCopayment) -> CopaymentOutcome:
        billed = await self._billed_clinician(request.clinician_id)
        outcome = decide_copayment(
            request, self._tariffs, specialist=billed.specialist if billed else False
        )
        reason = exemption_reason(
            request.patient,
            oslo_day(request.replied_at),
            frikort_on_day=request.frikort_on_reply_day,
        )
        return await self._charges.record_once(
            request.consultation_id, request.patient, outcome, reason, billed
        )

    async def _billed_clinician(self, clinician_id: str | None) -> BilledClinician | None:
        """The replying clinician's rate; one missing from the directory pays the lower rate."""
        if clinician_id is None:
            return None
        entry = await self._directory.get(clinician_id)
        specialist = entry.specialist_in_general_practice if entry else False
        return BilledClinician(clinician_id, specialist)
