"""The co-payment of one consultation, in one place: the billable message it is taken on, the
facts its settlement needs, the outcome when it settles, and how it ends when nothing was
taken. The rules that price it are in domain/copayment.py; pure, no I/O."""

from __future__ import annotations

from datetime import datetime

from domain.copayment import AGE_CHECKED_CODES, start_frikort_counts
from domain.effects import FrikortQuestion, SettleCopayment
from domain.events import Bill
from domain.models import ConsultationState, CopaymentOutcome, CopaymentStatus
from domain.parties import ClinicianExemption, ExemptionCode
from domain.working_days import oslo_day


class CopaymentCase:
    """Reads and changes the co-payment part of a consultation's state (a copy being decided)."""

    def __init__(self, state: ConsultationState) -> None:
        self._state = state

    @property
    def settling(self) -> bool:
        """A billable message was taken and its settlement has not answered yet: from then on
        the settlement decides the co-payment, even if the case closes first."""
        s = self._state
        return s.billable_message_taken and s.copayment.status == CopaymentStatus.PENDING

    def take(
        self,
        clinician_id: str,
        at: datetime,
        *,
        billable: bool,
        exemption: ClinicianExemption | None = None,
        exemption_note: str | None = None,
    ) -> Bill | None:
        """The first clinician message marked billable is billed, once per case; one marked not
        billable (a clarifying question) leaves it for the answer after it."""
        s = self._state
        s.clinician_has_replied = True
        if not billable or s.billable_message_taken:
            return None
        s.billable_message_taken = True
        return Bill(
            clinician_id=clinician_id, at=at, exemption=exemption, exemption_note=exemption_note
        )

    def end_unbilled(self, *, clinician_wrote: bool) -> None:
        """A case that ends with nothing taken: no charge when the clinician wrote (nothing of
        it billable), else nothing to charge for. A settlement in flight decides itself."""
        s = self._state
        if s.copayment.status == CopaymentStatus.PENDING and not self.settling:
            status = (
                CopaymentStatus.NO_CHARGE if clinician_wrote else CopaymentStatus.NOT_APPLICABLE
            )
            s.copayment = CopaymentOutcome(status=status)

    def frikort_without_register(self, bill: Bill) -> bool | None:
        """The frikort answer when the register need not be asked: the portal's flag counts in
        the start's calendar year, and a declared exemption makes frikort moot. None: ask.

        Where the claim is judged, only a code that stands whatever the patient's age makes it
        moot: "none" overrules the claim, and an age-checked code may be set aside."""
        s = self._state
        if s.patient.frikort and start_frikort_counts(s.created_at, bill.at):
            return True
        if s.exemptions_judged:
            code = s.patient.exemption if bill.exemption is None else bill.exemption
            stands = isinstance(code, ExemptionCode) and code not in AGE_CHECKED_CODES
            return False if stands else None
        if bill.exemption is not None or s.patient.exemption is not None:
            return False
        return None

    def frikort_question(self, bill: Bill | None) -> FrikortQuestion | None:
        """What to ask the frikort register for a billed message, when its answer decides."""
        if bill is None or self.frikort_without_register(bill) is not None:
            return None
        return FrikortQuestion(patient_id=self._state.patient.id, on_day=oslo_day(bill.at))

    def settlement(self, bill: Bill, *, specialist: bool, frikort: bool) -> SettleCopayment:
        """Everything the pricing rules need, fixed when the message was taken."""
        s = self._state
        return SettleCopayment(
            consultation_id=s.consultation_id,
            patient=s.patient,
            replied_at=bill.at,
            clinician_id=bill.clinician_id,
            specialist_in_general_practice=specialist,
            frikort_on_reply_day=frikort,
            exemption=bill.exemption,
            exemption_note=bill.exemption_note,
            judge_claim=s.exemptions_judged,
        )

    def settled(self, outcome: CopaymentOutcome) -> None:
        self._state.copayment = outcome
