"""How the 1.0 flow calls its case-store writes and settlement (the rest: workflows/calls.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.copayment_case import CopaymentCase
    from domain.effects import (
        CaseEvent,
        CaseEventResult,
        DirectoryAnswer,
        RecordResult,
    )
    from domain.events import Bill
    from domain.models import ConsultationState, CopaymentOutcome
    from domain.working_days import oslo_day
    from workflows.calls import (
        ask_frikort_register,
        case_store,
        decline_text,
        deliver,
        forward_journal_entry,
        refusal_or,
        refused,
        show_case,
    )
    from workflows.v1.writes import EventWrites

__all__ = [
    "decline_text",
    "deliver",
    "directory_answer",
    "forward_journal_entry",
    "record_change",
    "refusal_or",
    "refuse",
    "refused",
    "settle_copayment",
]

refuse = refused
# The 1.0 flow's own activities, by name (activities/v1.py).
RECORD_CONSULTATION = "record_consultation"
RECORD_EVENT = "record_event"
STORE_MESSAGE = "store_message"
SETTLE_COPAYMENT = "settle_copayment"


async def record_change(state: ConsultationState, writes: EventWrites) -> CaseEventResult:
    """Show the state to ops (search attributes) and to people (the case row), with the
    event's message and journal entries: one local activity."""
    show_case(state)
    if writes.empty:
        recorded = await case_store(RECORD_CONSULTATION, state.record(), RecordResult)
        return CaseEventResult(applied=recorded.applied)
    return await case_store(
        RECORD_EVENT,
        CaseEvent(
            record=state.record(),
            message=writes.message,
            journal=writes.journal,
            billed_clinician_id=writes.bill.clinician_id if writes.bill else None,
            notifications=writes.notifications,
        ),
        CaseEventResult,
    )


async def directory_answer(check: str, argument: object) -> DirectoryAnswer:
    return await refusal_or(check, argument, DirectoryAnswer)


async def settle_copayment(
    state: ConsultationState, bill: Bill, specialist: bool
) -> CopaymentOutcome:
    """Settle on the billable message, asking the frikort register unless already known."""
    copayment = CopaymentCase(state)
    frikort = copayment.frikort_without_register(bill)
    if frikort is None:
        frikort = await ask_frikort_register(state.patient.id, oslo_day(bill.at))
    settlement = copayment.settlement(bill, specialist=specialist, frikort=frikort)
    return await case_store(SETTLE_COPAYMENT, settlement, CopaymentOutcome)
