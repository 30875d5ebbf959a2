"""How the 1.0 flow calls its case-store writes and settlement (the rest: workflows/calls.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.v1 import ActivitiesV1
    from domain.copayment import start_frikort_counts
    from domain.effects import (
        CaseEvent,
        CaseEventResult,
        DirectoryAnswer,
        FrikortQuestion,
        SettleCopayment,
    )
    from domain.models import ConsultationState, CopaymentOutcome
    from domain.working_days import oslo_day
    from workflows import search_attributes as sa
    from workflows.calls import (
        FRIKORT_RETRY,
        FRIKORT_TIMEOUT,
        case_store,
        decline_text,
        deliver,
        forward_journal_entry,
        refusal_or,
        refused,
    )
    from workflows.v1.writes import Bill, EventWrites

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

In = TypeVar("In")
refuse = refused


async def record_change(state: ConsultationState, writes: EventWrites) -> CaseEventResult:
    """Show the state to ops (search attributes) and to people (the case row), with the
    event's message and journal entries: one local activity."""
    updates = sa.changed(
        workflow.info().typed_search_attributes,
        sa.case_attributes(
            state.status.value, state.recipient_id, state.reply_due_at, state.overdue
        ),
    )
    if updates:
        workflow.upsert_search_attributes(updates)
    if writes.empty:
        recorded = await case_store(ActivitiesV1.record_consultation, state.record())
        return CaseEventResult(applied=recorded.applied)
    return await case_store(
        ActivitiesV1.record_event,
        CaseEvent(
            record=state.record(),
            message=writes.message,
            journal=writes.journal,
            billed_clinician_id=writes.bill.clinician_id if writes.bill else None,
            notifications=writes.notifications,
        ),
    )


async def directory_answer(
    check: Callable[[Any, In], Awaitable[DirectoryAnswer]], argument: In
) -> DirectoryAnswer:
    return await refusal_or(check, argument)


async def settle_copayment(
    state: ConsultationState, bill: Bill, specialist: bool
) -> CopaymentOutcome:
    """Settle on the billable message, asking the frikort register unless already known."""
    frikort = state.patient.frikort and start_frikort_counts(state.created_at, bill.at)
    if not frikort and bill.exemption is None and state.patient.exemption is None:
        answer = await workflow.execute_activity_method(
            BillingActivities.ask_frikort_register,
            FrikortQuestion(patient_id=state.patient.id, on_day=oslo_day(bill.at)),
            start_to_close_timeout=FRIKORT_TIMEOUT,
            retry_policy=FRIKORT_RETRY,
        )
        frikort = answer.holds_frikort
    return await case_store(
        ActivitiesV1.settle_copayment,
        SettleCopayment(
            consultation_id=state.consultation_id,
            patient=state.patient,
            replied_at=bill.at,
            clinician_id=bill.clinician_id,
            specialist_in_general_practice=specialist,
            frikort_on_reply_day=frikort,
            exemption=bill.exemption,
            exemption_note=bill.exemption_note,
        ),
    )
