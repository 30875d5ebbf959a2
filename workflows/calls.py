"""How the workflows call their activities: timeouts, retries, and one wrapper each.

The workflow decides; these calls do. Each names the bound it waits within and what a failure
means for the case, so the workflow module reads as the lifecycle and nothing else.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.effects import (
        REFUSED_BY_OUTBOUND_POLICY,
        FrikortAnswer,
        FrikortQuestion,
        JournalEntryInput,
        JournalForward,
        NotificationInput,
    )
    from domain.entries import journal_entry_refused
    from domain.events import Committed, Event
    from domain.models import ConsultationState, Refusal
    from domain.practices import DeclineMessage, PracticeCalendar, PracticeQuestion
    from workflows import search_attributes as sa

Out = TypeVar("Out")

# Activities are called by name: workflows need domain/ alone, never the activities' code
# (tests/workflows/test_activity_names.py holds each name to the activity the worker runs).
COMMIT = "commit"
CHECK_DIRECTORY = "check_directory"
CHECK_REASSIGNMENT = "check_reassignment"
PRACTICE_CALENDAR = "practice_calendar"
DECLINE_MESSAGE = "decline_message"
ASK_FRIKORT_REGISTER = "ask_frikort_register"
SEND_NOTIFICATION = "send_notification"
GIVE_UP_NOTIFICATION = "give_up_notification"
FORWARD_JOURNAL_ENTRY = "forward_journal_entry"
REOPEN_NOTIFICATION = "reopen_notification"
REOPEN_JOURNAL_ENTRY = "reopen_journal_entry"
# The type of a record system's refusal for good (activities/fhir.py).
JOURNAL_REFUSED = "JournalEntryRefused"
# The type of a webhook receiver's refusal for good (activities/notifications.py).
NOTIFICATION_REFUSED = "NotificationRefused"

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


def show_case(state: ConsultationState) -> None:
    """Search attributes for ops; each upsert is a history event, so only what changed (carried
    over continue-as-new)."""
    updates = sa.changed(
        workflow.info().typed_search_attributes,
        sa.case_attributes(
            state.status.value, state.recipient_id, state.reply_due_at, state.overdue
        ),
    )
    if updates:
        workflow.upsert_search_attributes(updates)


def refused(reason: str, refusal: Refusal = Refusal.INVALID_TRANSITION) -> ApplicationError:
    """A business refusal (HTTP 409 for an invalid transition; the API maps the others)."""
    return ApplicationError(reason, type=refusal, non_retryable=True)


async def case_store(activity: str, argument: object, answer: type[Out]) -> Out:
    """A short write to (or read of) the case store, as a local activity: no server round trip
    per write, so a lifecycle costs the server a fraction of its events."""
    result: Out = await workflow.execute_local_activity(
        activity,
        argument,
        result_type=answer,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
    return result


async def refusal_or(activity: str, argument: object, answer: type[Out]) -> Out:
    """A case-store call that may refuse the command: refused with the store's own refusal
    (its `Refusal` type), not a wrapped activity error."""
    try:
        return await case_store(activity, argument, answer)
    except ActivityError as error:
        if isinstance(error.cause, ApplicationError):
            raise error.cause from None
        raise


async def commit(event: Event) -> Committed:
    """Everything the event writes, in one transaction; refused when its message is."""
    return await refusal_or(COMMIT, event, Committed)


async def ask_frikort_register(patient_id: str, on_day: date) -> bool:
    """The register's answer for the day of the billed message, waited for as long as it takes."""
    answer: FrikortAnswer = await workflow.execute_activity(
        ASK_FRIKORT_REGISTER,
        FrikortQuestion(patient_id=patient_id, on_day=on_day),
        result_type=FrikortAnswer,
        start_to_close_timeout=FRIKORT_TIMEOUT,
        retry_policy=FRIKORT_RETRY,
    )
    return answer.holds_frikort


async def decline_text(practice_id: str) -> str:
    """The practice's standard text for a declined consultation (a default without one)."""
    question = PracticeQuestion(practice_id=practice_id)
    answer = await case_store(DECLINE_MESSAGE, question, DeclineMessage)
    return answer.text


# A history recorded without it replays with the closed days read at the start; with it, each
# submit and follow-up reads them afresh (docs/deadlines.md).
CLOSED_DAYS_AT_EACH_MESSAGE = "closed-days-at-each-message"


async def closed_days_now(practice_id: str, *, always: bool = False) -> list[date] | None:
    """The practice's closed days as they are now, for a deadline computed now; None where the
    recorded history has no such read (the closed days of the start count). `always`: a run
    whose flow reads them at every message, with no patch asked (first-attempt-in-commit)."""
    if not always and not workflow.patched(CLOSED_DAYS_AT_EACH_MESSAGE):
        return None
    question = PracticeQuestion(practice_id=practice_id)
    calendar = await case_store(PRACTICE_CALENDAR, question, PracticeCalendar)
    return calendar.closed_days


async def not_sent(
    activity: str,
    argument: object,
    attempt_timeout: timedelta,
    retry: RetryPolicy,
    gives_up_after: timedelta | None = None,
) -> ActivityError | None:
    """Send to a receiver outside the service; the failure once it refused for good or was
    given up on (its row keeps what happened, for ops and for a redelivery), None when sent."""
    try:
        await workflow.execute_activity(
            activity,
            argument,
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=gives_up_after,
            retry_policy=retry,
        )
    except ActivityError as failure:
        return failure
    return None


def refused_status(failure: ActivityError) -> int | None:
    """The HTTP status a receiver refused with, when the activity's failure carries it."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.details:
        status = cause.details[0]
        return status if isinstance(status, int) else None
    return None


async def send_journal_entry(forward: JournalForward) -> bool:
    """Send a journal entry on to the record system."""
    failure = await not_sent(FORWARD_JOURNAL_ENTRY, forward, FORWARD_TIMEOUT, FORWARD_RETRY)
    return failure is None


# Workflows from before it record no give-up: their rows stay as they were.
GIVE_UP_RECORDED = "notification-give-up-recorded"


async def send_notification(notification: NotificationInput) -> bool:
    """Send a notification; a gateway that is down is given up on after a week, and the row
    says so, so an operator can have it sent again (a final 4xx is on the row already)."""
    failure = await not_sent(
        SEND_NOTIFICATION, notification, NOTIFY_TIMEOUT, NOTIFY_RETRY, NOTIFY_GIVES_UP_AFTER
    )
    if failure is None:
        return True
    refused = isinstance(failure.cause, ApplicationError) and (
        failure.cause.type == NOTIFICATION_REFUSED
    )
    if not refused and workflow.patched(GIVE_UP_RECORDED):
        await case_store(GIVE_UP_NOTIFICATION, notification, type(None))
    return False


# Runs from before it only log a refused entry; since, the practice is told as well.
JOURNAL_ENTRY_REFUSED_EVENT = "journal-entry-refused-event"


async def forward_journal_entry(entry: JournalEntryInput) -> None:
    """Send a journal entry on to the record system; a refusal for good is logged and the
    practice told (`econsult.journal_entry_refused`), through the outbox like every event."""
    forward = JournalForward(entry_key=entry.entry_key)
    failure = await not_sent(FORWARD_JOURNAL_ENTRY, forward, FORWARD_TIMEOUT, FORWARD_RETRY)
    if failure is None:
        return
    status = refused_status(failure)
    workflow.logger.error(
        "journal entry refused", extra={"entry_key": entry.entry_key, "http_status": status}
    )
    cause = failure.cause
    # The record system's own refusal: not one of the outbound policy, which contacted nothing.
    by_record_system = (
        isinstance(cause, ApplicationError)
        and cause.type == JOURNAL_REFUSED
        and REFUSED_BY_OUTBOUND_POLICY not in cause.details[1:]
    )
    # Asked only when an entry is refused, so other runs carry no marker for it.
    if by_record_system and status is not None and workflow.patched(JOURNAL_ENTRY_REFUSED_EVENT):
        await deliver(journal_entry_refused(entry, status, workflow.now()))


async def deliver(notification: NotificationInput) -> None:
    """Send a notification; one given up on is logged for ops."""
    if not await send_notification(notification):
        workflow.logger.error(
            "notification undelivered", extra={"notification_key": notification.notification_key}
        )
