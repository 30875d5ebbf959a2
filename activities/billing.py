"""Co-payment activities: ask the frikort register, decide by the billing rules, record once."""

from __future__ import annotations

from temporalio import activity

from activities.adapters import FrikortRegister
from domain.copayment import DEFAULT_TABLE, CopaymentTable, decide_copayment
from domain.effects import FrikortAnswer, FrikortQuestion, SettleCopayment
from domain.models import CopaymentOutcome
from store.charges import BilledClinician, Charges


class BillingActivities:
    def __init__(
        self,
        charges: Charges,
        frikort_register: FrikortRegister,
        table: CopaymentTable = DEFAULT_TABLE,
    ) -> None:
        self._charges = charges
        self._frikort_register = frikort_register
        self._table = table

    @activity.defn
    async def ask_frikort_register(self, question: FrikortQuestion) -> FrikortAnswer:
        """An unreachable register raises, and the workflow's retry policy waits it out."""
        holds = await self._frikort_register.holds_frikort(question.patient_id, question.on_day)
        return FrikortAnswer(holds_frikort=holds)

    @activity.defn
    async def settle_copayment(self, request: SettleCopayment) -> CopaymentOutcome:
        """Decide from the request alone (the workflow fixed the rate and the frikort answer
        when it took the message) and record the charge once per consultation."""
        outcome = decide_copayment(request, self._table)
        billed = (
            BilledClinician(request.clinician_id, request.specialist_in_general_practice)
            if request.clinician_id is not None
            else None
        )
        return await self._charges.record_once(
            request.consultation_id, request.patient, outcome, billed
        )
