"""Decide: each command and timer of a consultation as a pure function of the state, the command
or timer, the time and the facts it needs. Each answers the new state and the one event to
commit (`Decided`), a refusal (`Refused`), or None when there is nothing to do (a message
already taken). The state passed in is never changed: the workflow keeps the new one only once
the event is committed. The table of docs/lifecycle.md, one function per row; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.checks import (
    Refused,
    check_close,
    check_reassign,
    check_reply,
    check_submit,
    check_withdraw,
    is_duplicate,
)
from domain.copayment_case import CopaymentCase
from domain.effects import (
    Audience,
    DirectoryAnswer,
    JournalEntryInput,
    MessageToStore,
    NotificationEvent,
)
from domain.entries import (
    closed,
    closed_for_inactivity,
    copayment_settled,
    message_to_store,
    message_written,
    notification,
    reassigned,
    withdrawn,
)
from domain.events import Bill, Event
from domain.models import (
    CloseCommand,
    CloseReason,
    ConsultationStart,
    ConsultationState,
    Copayment,
    MessageContent,
    ReassignCommand,
    ReplyCommand,
    Role,
    Status,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import Representative
from domain.working_days import late_notice_at, oslo_day, reminder_at, reply_due_at

DRAFT_EXPIRES_AFTER = timedelta(hours=24)
INACTIVE_CLOSES_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class Decided:
    state: ConsultationState
    event: Event


Decision = Decided | Refused | None


class TimerKind(StrEnum):
    """What the case waits for next (named as the timer's summary in the history)."""

    EXPIRE_DRAFT = "expire_draft"
    REMIND = "remind"
    MARK_OVERDUE = "mark_overdue"
    TELL_PATIENT_LATE = "tell_patient_late"
    CLOSE_FOR_INACTIVITY = "close_for_inactivity"


Tell = tuple[Audience, NotificationEvent]


@dataclass
class _Change:
    """The event being decided, on a copy of the state."""

    state: ConsultationState
    now: datetime
    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = field(default_factory=list)
    bill: Bill | None = None

    @classmethod
    def of(cls, state: ConsultationState, now: datetime) -> _Change:
        return cls(state.model_copy(deep=True), now)

    def write(
        self,
        message_id: str,
        role: Role,
        author_id: str,
        content: MessageContent,
        representative: Representative | None = None,
    ) -> None:
        s = self.state
        self.message = message_to_store(
            s, message_id, role, author_id, content, self.now, representative
        )
        s.seen_message_ids.append(message_id)
        s.message_count += 1
        self.journal.append(message_written(s, self.message))

    def done(self, tell: Tell | None = None) -> Decided:
        """The revision moves with every event: the case store ignores an older write."""
        s = self.state
        s.revision += 1
        notifications = [notification(s, *tell, self.now, queued=True)] if tell else []
        event = Event(
            record=s.record(),
            message=self.message,
            journal=self.journal,
            notifications=notifications,
            bill=self.bill,
        )
        return Decided(s, event)


def new_case(
    start: ConsultationStart, now: datetime, *, exemptions_judged: bool = False
) -> ConsultationState:
    """The state before the start is decided: a draft of no practice yet; `exemptions_judged`
    when the flow it starts on judges the patient's claimed exemption."""
    return ConsultationState(
        consultation_id=start.consultation_id,
        patient=start.patient,
        clinician_id=start.clinician_id,
        recipient_id=start.recipient_id,
        practice_id="",
        reply_within_working_days=5,
        created_at=now,
        exemptions_judged=exemptions_judged,
    )


# --- commands -------------------------------------------------------------------------------


def open_case(
    state: ConsultationState,
    start: ConsultationStart,
    directory: DirectoryAnswer,
    now: datetime,
    message_id: str,
) -> Decided:
    """start: the practice's reply time and closed days, and the first message if it came."""
    change = _Change.of(state, now)
    s = change.state
    s.practice_id = directory.practice_id
    s.reply_within_working_days = directory.reply_within_working_days
    s.closed_days = directory.closed_days
    if start.message is None:
        return change.done()
    first = SubmitCommand(
        message_id=message_id, message=start.message, representative=start.representative
    )
    return _patient_wrote(change, first, message_id, submitted=True)


def submit(
    state: ConsultationState,
    command: SubmitCommand,
    now: datetime,
    message_id: str,
    closed_days: list[date] | None = None,
) -> Decision:
    """submit: draft -> awaiting_clinician. `closed_days`: the practice's as they are now (None:
    those read at the start), the non-working days of the deadline this message starts."""
    if refused := check_submit(state, command, oslo_day(now)):
        return refused
    if is_duplicate(state, command.message_id):
        return None
    change = _Change.of(state, now)
    return _patient_wrote(change, command, message_id, submitted=True, closed_days=closed_days)


def reply(
    state: ConsultationState,
    command: ReplyCommand,
    now: datetime,
    message_id: str,
    closed_days: list[date] | None = None,
) -> Decision:
    """reply: the clinician answers (or answers and closes), or the patient follows up (a
    fresh deadline over `closed_days`, as for submit)."""
    if refused := check_reply(state, command, oslo_day(now)):
        return refused
    if is_duplicate(state, command.message_id):
        return None
    if command.author_role == Role.PATIENT:
        change = _Change.of(state, now)
        return _patient_wrote(change, command, message_id, submitted=False, closed_days=closed_days)
    if command.close:
        closing = CloseCommand(
            message_id=message_id,
            clinician_id=command.author_id,
            message=command.message,
            billable=command.billable,
            exemption=command.exemption,
            exemption_note=command.exemption_note,
        )
        return close(state, closing, now, message_id)
    change = _Change.of(state, now)
    s = change.state
    change.write(message_id, Role.CLINICIAN, command.author_id, command.message)
    change.bill = CopaymentCase(s).take(
        command.author_id,
        now,
        billable=command.billable,
        exemption=command.exemption,
        exemption_note=command.exemption_note,
    )
    s.reply_due_at = s.reminder_at = None
    s.overdue = False
    s.awaiting_patient_since = now
    s.status = Status.AWAITING_PATIENT
    return change.done((Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE))


def close(
    state: ConsultationState,
    command: CloseCommand,
    now: datetime,
    message_id: str,
    decline_text: str | None = None,
) -> Decision:
    """close, with a final message billed as a reply; or declined as not suited to an
    e-consultation: `decline_text` (the practice's) unless the close carries its own, and
    nothing billed whatever `billable` says."""
    if refused := check_close(state, command, oslo_day(now)):
        return refused
    declined = command.reason == CloseReason.DECLINED
    message = command.message
    if declined and message is None and decline_text is not None:
        message = MessageContent(body=decline_text)
    change = _Change.of(state, now)
    s = change.state
    if message is not None:
        change.write(message_id, Role.CLINICIAN, command.clinician_id, message)
        change.bill = CopaymentCase(s).take(
            command.clinician_id,
            now,
            billable=command.billable and not declined,
            exemption=command.exemption,
            exemption_note=command.exemption_note,
        )
    change.journal.append(closed(s, command.clinician_id, now, declined=declined))
    reason = CloseReason.DECLINED if declined else CloseReason.CLINICIAN
    return _finish(change, Status.CLOSED, reason, (Audience.PATIENT, NotificationEvent.CLOSED))


def withdraw(state: ConsultationState, command: WithdrawCommand, now: datetime) -> Decision:
    """withdraw: the patient takes the question back before any clinician reply."""
    if refused := check_withdraw(state, command, oslo_day(now)):
        return refused
    change = _Change.of(state, now)
    change.journal.append(withdrawn(change.state, now, command.representative))
    tell = (Audience.CLINICIAN, NotificationEvent.WITHDRAWN)
    return _finish(change, Status.WITHDRAWN, None, tell)


def reassign(
    state: ConsultationState, command: ReassignCommand, directory: DirectoryAnswer, now: datetime
) -> Decision:
    """reassign: the practice's other clinician answers from now on; the deadline is kept,
    later patient messages get the new recipient's reply time."""
    if refused := check_reassign(state, command):
        return refused
    if directory.recipient_id == state.recipient_id:
        return None
    change = _Change.of(state, now)
    s = change.state
    former, s.recipient_id = s.recipient_id, directory.recipient_id
    s.reply_within_working_days = directory.reply_within_working_days
    change.journal.append(reassigned(s, command, former, now))
    return change.done((Audience.CLINICIAN, NotificationEvent.REASSIGNED))


def settle(
    state: ConsultationState,
    bill: Bill,
    now: datetime,
    *,
    specialist: bool,
    frikort: bool,
    tell_portal: bool = False,
) -> Decided:
    """The co-payment settles on the billed message; the commit prices it and writes the charge.
    `tell_portal`: the event carries the portal's `copayment_settled`, which the commit fills
    with the price it decides (`entries.settled_as`)."""
    change = _Change.of(state, now)
    decided = change.done()
    settlement = CopaymentCase(change.state).settlement(
        bill, specialist=specialist, frikort=frikort
    )
    decided.event.settlement = settlement
    if tell_portal:
        decided.event.notifications.append(copayment_settled(decided.state, Copayment(), now))
    return decided


# --- timers ---------------------------------------------------------------------------------


def next_timer(state: ConsultationState) -> tuple[datetime, TimerKind] | None:
    """The one place that says which deadline the case waits for next."""
    s = state
    if s.status == Status.DRAFT:
        return s.created_at + DRAFT_EXPIRES_AFTER, TimerKind.EXPIRE_DRAFT
    if s.status == Status.AWAITING_CLINICIAN and s.reminder_at and s.reply_due_at:
        if not s.reminded:
            return s.reminder_at, TimerKind.REMIND
        if not s.overdue:
            return s.reply_due_at, TimerKind.MARK_OVERDUE
        if not s.told_late:
            return late_notice_at(s.reply_due_at), TimerKind.TELL_PATIENT_LATE
    if s.status == Status.AWAITING_PATIENT and s.awaiting_patient_since:
        return s.awaiting_patient_since + INACTIVE_CLOSES_AFTER, TimerKind.CLOSE_FOR_INACTIVITY
    return None


def timer_fired(state: ConsultationState, timer: TimerKind, now: datetime) -> Decided:
    change = _Change.of(state, now)
    s = change.state
    if timer == TimerKind.EXPIRE_DRAFT:
        # Expired: nothing journaled, notified or billed.
        return _finish(change, Status.EXPIRED, None, None)
    if timer == TimerKind.CLOSE_FOR_INACTIVITY:
        change.journal.append(closed_for_inactivity(s, now, INACTIVE_CLOSES_AFTER.days))
        tell = (Audience.PATIENT, NotificationEvent.CLOSED)
        return _finish(change, Status.CLOSED, CloseReason.INACTIVE, tell)
    if timer == TimerKind.REMIND:
        s.reminded = True
        return change.done((Audience.CLINICIAN, NotificationEvent.REMINDER))
    if timer == TimerKind.MARK_OVERDUE:
        s.overdue = True
        return change.done((Audience.PRACTICE, NotificationEvent.OVERDUE))
    # 08:00 Oslo the morning after the deadline, if still unanswered: never at night.
    s.told_late = True
    return change.done((Audience.PATIENT, NotificationEvent.ANSWER_LATE))


# --- shared steps ---------------------------------------------------------------------------


def _patient_wrote(
    change: _Change,
    command: SubmitCommand | ReplyCommand,
    message_id: str,
    *,
    submitted: bool,
    closed_days: list[date] | None = None,
) -> Decided:
    """submit, or a follow-up: the message, a fresh deadline, and the clinician is told. The
    deadline counts the closed days known now; a deadline already running is not moved."""
    s, now = change.state, change.now
    if closed_days is not None:
        s.closed_days = sorted(closed_days)
    change.write(message_id, Role.PATIENT, s.patient.id, command.message, command.representative)
    if submitted:
        s.submitted_at = now
    s.reply_due_at = reply_due_at(now, s.reply_within_working_days, s.closed_days)
    s.reminder_at = reminder_at(s.reply_due_at)
    s.reminded = s.overdue = s.told_late = False
    s.awaiting_patient_since = None
    s.status = Status.AWAITING_CLINICIAN
    return change.done((Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE))


def _finish(
    change: _Change, status: Status, reason: CloseReason | None, tell: Tell | None
) -> Decided:
    s = change.state
    s.status = status
    s.close_reason = reason
    s.closed_at = change.now
    s.reply_due_at = s.reminder_at = None
    wrote = s.clinician_has_replied or reason == CloseReason.DECLINED
    CopaymentCase(s).end_unbilled(clinician_wrote=wrote)
    return change.done(tell)
