"""How the consultation workflow calls its activities: timeouts, retries, and one wrapper each.

The workflow decides; these calls do. Each names the bound it waits within and what a failure
means for the case, so the workflow module reads as the lifecycle and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.case import CaseActivities
    from activities.fhir import JOURNAL_REFUSED, RecordSystemActivities
    from activities.notifications import NotificationActivities
    from activities.practices import PracticeActivities
    from domain.copayment import start_frikort_counts
    from domain.effects import (
        CaseEvent,
        CaseEventResult,
        DirectoryAnswer,
        FrikortQuestion,
        JournalForward,
        NotificationInput,
        SettleCopayment,
    )
    from domain.models import ConsultationState, CopaymentOutcome, Refusal
    from domain.practices import PracticeQuestion
    from domain.working_days import oslo_day
    from workflows import search_attributes as sa
    from workflows.v1.writes import Bill, EventWrites

In = TypeVar("In")
Out = TypeVar("Out")

# Case store: retried without limit; a database outage delays, never loses.
STORE_TIMEOUT = timedelta(seconds=10)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[*Refusal],
)
# Notifications: a gateway that is down delays them for up to a week, in the background.
NOTIFY_TIMEOUT = timedelta(seconds=10)
NOTIFY_GIVES_UP_AFTER = timedelta(days=7)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=10)
)
# Frikort register: outside the service; while it cannot be reached settlement waits, as long
# as it takes, and never charges on a guess.
FRIKORT_TIMEOUT = timedelta(seconds=10)
FRIKORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5)
)
# The external record system (FHIR): a system that is down delays the entry without limit, in
# the background, so the patient's notification never waits for it.
FORWARD_TIMEOUT = timedelta(seconds=15)
FORWARD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[JOURNAL_REFUSED],
)


def refuse(reason: str) -> ApplicationError:
    """A command the current status does not allow (HTTP 409)."""
    return ApplicationError(reason, type=Refusal.INVALID_TRANSITION, non_retryable=True)


def refused(reason: str, refusal: Refusal) -> ApplicationError:
    return ApplicationError(reason, type=refusal, non_retryable=True)


async def case_store(activity: Callable[[Any, In], Awaitable[Out]], argument: In) -> Out:
    """A short write to (or read of) the case store, as a local activity: no server round trip
    per write, so a lifecycle costs the server a fraction of its events."""
    return await workflow.execute_local_activity_method(
        activity, argument, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
    )


async def record_change(state: ConsultationState, writes: EventWrites) -> CaseEventResult:
    """Show the state to ops (search attributes) and to people (the case row), with the
    event's message and journal entries: one local activity."""
    # Each upsert is a history event and a visibility write on the server: send only what
    # differs from what the workflow already shows (carried over continue-as-new).
    updates = sa.changed(
        workflow.info().typed_search_attributes,
        sa.case_attributes(
            state.status.value, state.recipient_id, state.reply_due_at, state.overdue
        ),
    )
    if updates:
        workflow.upsert_search_attributes(updates)
    if writes.empty:
        recorded = await case_store(CaseActivities.record_consultation, state.record())
        return CaseEventResult(applied=recorded.applied)
    return await case_store(
        CaseActivities.record_event,
        CaseEvent(
            record=state.record(),
            message=writes.message,
            journal=writes.journal,
            billed_clinician_id=writes.bill.clinician_id if writes.bill else None,
            notifications=writes.notifications,
        ),
    )


async def refusal_or(activity: Callable[[Any, In], Awaitable[Out]], argument: In) -> Out:
    """A case-store call that may refuse the command: refused with the store's own refusal
    (its `Refusal` type), not a wrapped activity error."""
    try:
        return await case_store(activity, argument)
    except ActivityError as error:
        if isinstance(error.cause, ApplicationError):
            raise error.cause from None
        raise


async def directory_answer(
    check: Callable[[Any, In], Awaitable[DirectoryAnswer]], argument: In
) -> DirectoryAnswer:
    return await refusal_or(check, argument)


async def settle_copayment(
    state: ConsultationState, bill: Bill, specialist: bool
) -> CopaymentOutcome:
    """Settle on the billable message: the portal's frikort flag counts in the start's calendar
    year; otherwise the frikort register is asked for the message's day, unless an exemption
    was declared (by the portal at start, or by the clinician with the message)."""
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
        BillingActivities.settle_copayment,
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


async def decline_text(practice_id: str) -> str:
    """The practice's standard text for a declined consultation (a default without one)."""
    answer = await case_store(
        PracticeActivities.decline_message, PracticeQuestion(practice_id=practice_id)
    )
    return answer.text


async def sent(
    activity: Callable[[Any, In], Awaitable[object]],
    argument: In,
    attempt_timeout: timedelta,
    retry: RetryPolicy,
    gives_up_after: timedelta | None = None,
) -> bool:
    """Send to a receiver outside the service; False once it refused for good or was given up
    on (its row keeps what happened, for ops and for a redelivery)."""
    try:
        await workflow.execute_activity_method(
            activity,
            argument,
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=gives_up_after,
            retry_policy=retry,
        )
    except ActivityError:
        return False
    return True


async def send_journal_entry(forward: JournalForward) -> bool:
    """Send a journal entry on to the record system."""
    activity = RecordSystemActivities.forward_journal_entry
    return await sent(activity, forward, FORWARD_TIMEOUT, FORWARD_RETRY)


async def send_notification(notification: NotificationInput) -> bool:
    """Send a notification; a gateway that is down is given up on after a week."""
    activity = NotificationActivities.send_notification
    return await sent(activity, notification, NOTIFY_TIMEOUT, NOTIFY_RETRY, NOTIFY_GIVES_UP_AFTER)


async def forward_journal_entry(entry_key: str) -> None:
    """Send a journal entry on to the record system; a refusal for good is logged."""
    if not await send_journal_entry(JournalForward(entry_key=entry_key)):
        workflow.logger.error("journal entry refused", extra={"entry_key": entry_key})


async def deliver(notification: NotificationInput) -> None:
    """Send a notification; one given up on is logged for ops."""
    if not await send_notification(notification):
        workflow.logger.error(
            "notification undelivered", extra={"notification_key": notification.notification_key}
        )
