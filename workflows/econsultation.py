"""EConsultation: one durable workflow per consultation, read as the table of docs/lifecycle.md.

Each event has one handler; the main loop waits for the next timer (draft expiry, reminder,
deadline, inactivity) or for a handler to change the state, whichever comes first. Handlers
and timers take one lock, so effects of two events never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.case import UNKNOWN_ATTACHMENT, CaseActivities
    from activities.fhir import JOURNAL_REFUSED, RecordSystemActivities
    from activities.journal import JournalActivities
    from activities.notifications import NotificationActivities
    from domain.copayment import exemption_reason
    from domain.models import (
        OPEN_AFTER_SUBMIT,
        Audience,
        CaseEvent,
        CloseCommand,
        CloseReason,
        ConsultationStart,
        ConsultationState,
        ConsultationView,
        CopaymentOutcome,
        CopaymentStatus,
        DirectoryAnswer,
        DirectoryCheck,
        FrikortQuestion,
        JournalEntryInput,
        JournalEntryKind,
        JournalForward,
        MessageContent,
        MessageToStore,
        NotificationEvent,
        NotificationInput,
        ReassignCommand,
        ReassignmentCheck,
        Refusal,
        ReplyCommand,
        Representative,
        Role,
        SettleCopayment,
        Status,
        SubmitCommand,
        WithdrawCommand,
    )
    from domain.representatives import on_behalf_text, representative_refusal
    from domain.working_days import oslo_day, reminder_at, reply_due_at
    from workflows import search_attributes as sa

DRAFT_EXPIRES_AFTER = timedelta(hours=24)
INACTIVE_CLOSES_AFTER = timedelta(days=30)

# Case store and journal: retried without limit; a database outage delays, never loses.
STORE_TIMEOUT = timedelta(seconds=10)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[UNKNOWN_ATTACHMENT, *Refusal],
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


# workflow.patched ids: each marks a change that running consultations must replay around.
LOCAL_CASE_STORE = "local-case-store-activities"
FRIKORT_AT_REPLY = "frikort-at-reply"
FORWARD_JOURNAL = "forward-journal-entries"
SETTLE_IN_BACKGROUND = "settle-copayment-in-background"
SEARCH_ATTRIBUTES_ON_CHANGE = "search-attributes-on-change"
TIMER_KEPT_WHILE_DUE = "timer-kept-while-due"
ONE_WRITE_PER_EVENT = "one-write-per-event"
# A case started by this code records this one marker instead of one per change above: each
# marker is a history event plus a TemporalChangeVersion visibility write on the server.
# Histories without it replay by the markers they carry. The next change gets its own id,
# and a new id for "every change so far" replaces this one, which then implies those above.
EVERY_CHANGE_ABOVE = "lifecycle-2026-11-26"

In = TypeVar("In")
Out = TypeVar("Out")
Command = TypeVar("Command")


@dataclass
class Unwritten:
    """What an event writes besides its case record: written with the record, in one activity
    (ONE_WRITE_PER_EVENT). Empty on histories from before that change: written on their own."""

    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = field(default_factory=list)

    def __add__(self, other: Unwritten) -> Unwritten:
        return Unwritten(self.message or other.message, [*self.journal, *other.journal])


def refuse(reason: str) -> ApplicationError:
    return ApplicationError(reason, type=Refusal.INVALID_TRANSITION, non_retryable=True)


@workflow.defn(name="EConsultation")
class EConsultation:
    @workflow.init
    def __init__(self, start: ConsultationStart) -> None:
        self._lock = asyncio.Lock()
        self._opened = start.carried_state is not None
        # Until the start checks pass, validators judge by the status the case will open in.
        self._opening_status = Status.AWAITING_CLINICIAN if start.message else Status.DRAFT
        self._start_refusal: ApplicationError | None = None
        self._messages_this_run = 0
        self._messages_per_run = start.messages_per_run
        # Notifications, journal forwards and settlement in flight, awaited before completing.
        self._background: list[asyncio.Task[None]] = []
        self._settling = False
        self.state = start.carried_state or ConsultationState(
            consultation_id=start.consultation_id,
            patient=start.patient,
            clinician_id=start.clinician_id,
            recipient_id=start.recipient_id,
            practice_id="",
            reply_within_working_days=5,
            created_at=workflow.now(),
        )

    # --- the story ---------------------------------------------------------------------

    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        if not self._opened:
            try:
                await self._open(start)
            except ApplicationError as refusal:
                # Let a waiting `opened` update answer with the refusal itself, then fail.
                self._start_refusal = refusal
                await workflow.wait_condition(workflow.all_handlers_finished)
                raise
        while not self.state.status.is_final:
            if self._should_continue_as_new():
                await self._settle_in_flight_work()
                workflow.continue_as_new(
                    ConsultationStart(
                        consultation_id=start.consultation_id,
                        patient=start.patient,
                        clinician_id=start.clinician_id,
                        recipient_id=start.recipient_id,
                        copayment_accepted=start.copayment_accepted,
                        carried_state=self.state,
                        messages_per_run=self._messages_per_run,
                    )
                )
            await self._wait_for_event_or_timer()
        await self._settle_in_flight_work()
        return self.view()

    async def _open(self, start: ConsultationStart) -> None:
        """start: validate co-payment acceptance and the directory, then record the draft."""
        if not start.copayment_accepted:
            raise ApplicationError(
                "the patient has not accepted the co-payment",
                type=Refusal.COPAYMENT_NOT_ACCEPTED,
                non_retryable=True,
            )
        self._check_representative(start.representative)
        directory = await self._directory_answer(
            CaseActivities.check_directory,
            DirectoryCheck(
                patient_id=start.patient.id,
                clinician_id=start.clinician_id,
                recipient_id=start.recipient_id,
                on_day=oslo_day(self.state.created_at),
            ),
        )
        self.state.practice_id = directory.practice_id
        self.state.reply_within_working_days = directory.reply_within_working_days
        self.state.closed_days = directory.closed_days
        async with self._lock:
            # A first message written together with the case row needs no draft row first.
            if start.message is None or not self._writes_together(start.message):
                await self._record_change()
            if start.message is not None:
                await self._patient_writes(
                    start.message_id, start.message, first=True, representative=start.representative
                )
            # Only now do validators judge by the stored status, and handlers take their turn.
            self._opened = True

    # --- commands: one update per event, and the same update behind its signal -----------
    # The API sends updates, answered with the view and refused by the validator before
    # anything is written. Backend services send the same commands as signals of the same
    # names; a signal runs the update's body, and a refused one changes nothing. Updates are
    # named after their methods: with `name=` the SDK types their answer as a coroutine, and
    # callers could not call them by method reference.

    @workflow.update
    async def submit(self, command: SubmitCommand) -> ConsultationView:
        async with self._turn():
            self._check_submit(command)
            if not self._is_duplicate(command.message_id):
                await self._patient_writes(
                    command.message_id,
                    command.message,
                    first=True,
                    representative=command.representative,
                )
        return self.view()

    @submit.validator
    def _check_submit(self, command: SubmitCommand) -> None:
        if self._is_duplicate(command.message_id):
            return
        if self._status != Status.DRAFT:
            raise refuse(f"submit is not allowed in status {self._status}")
        self._check_representative(command.representative)

    @workflow.signal(name="submit")
    async def submit_signal(self, command: SubmitCommand) -> None:
        await self._as_signal(EConsultation.submit, command)

    @workflow.update
    async def reply(self, command: ReplyCommand) -> ConsultationView:
        async with self._turn():
            self._check_reply(command)
            if self._is_duplicate(command.message_id):
                return self.view()
            if command.author_role == Role.PATIENT:
                await self._patient_writes(
                    command.message_id,
                    command.message,
                    first=False,
                    representative=command.representative,
                )
            elif command.close:
                await self._close_by_clinician(
                    CloseCommand(
                        message_id=command.message_id,
                        clinician_id=command.author_id,
                        message=command.message,
                        billable=command.billable,
                    )
                )
            else:
                await self._clinician_replies(command)
        return self.view()

    @reply.validator
    def _check_reply(self, command: ReplyCommand) -> None:
        if self._is_duplicate(command.message_id):
            return
        status = self._status
        if command.author_role == Role.CLINICIAN:
            self._check_clinician(command.author_id)
            if status not in OPEN_AFTER_SUBMIT:
                raise refuse(f"the clinician cannot reply in status {status}")
            if command.representative is not None:
                raise self._representative_refused("only the patient's side writes through one")
        elif command.author_role == Role.PATIENT:
            self._check_patient(command.author_id)
            if status != Status.AWAITING_PATIENT:
                raise refuse(f"the patient cannot reply in status {status}")
            self._check_representative(command.representative)
        else:
            raise refuse("only the patient and the clinician write messages")

    @workflow.signal(name="reply")
    async def reply_signal(self, command: ReplyCommand) -> None:
        await self._as_signal(EConsultation.reply, command)

    @workflow.update
    async def close(self, command: CloseCommand) -> ConsultationView:
        async with self._turn():
            self._check_close(command)
            await self._close_by_clinician(command)
        return self.view()

    @close.validator
    def _check_close(self, command: CloseCommand) -> None:
        self._check_clinician(command.clinician_id)
        if self._status not in OPEN_AFTER_SUBMIT:
            raise refuse(f"close is not allowed in status {self._status}")

    @workflow.signal(name="close")
    async def close_signal(self, command: CloseCommand) -> None:
        await self._as_signal(EConsultation.close, command)

    @workflow.update
    async def withdraw(self, command: WithdrawCommand) -> ConsultationView:
        async with self._turn():
            self._check_withdraw(command)
            await self._withdraw_before_reply()
        return self.view()

    @withdraw.validator
    def _check_withdraw(self, command: WithdrawCommand) -> None:
        self._check_patient(command.patient_id)
        if self._status != Status.AWAITING_CLINICIAN or self.state.clinician_has_replied:
            raise refuse("withdraw is only allowed before any clinician reply")

    @workflow.signal(name="withdraw")
    async def withdraw_signal(self, command: WithdrawCommand) -> None:
        await self._as_signal(EConsultation.withdraw, command)

    @workflow.update
    async def reassign(self, command: ReassignCommand) -> ConsultationView:
        async with self._turn():
            self._check_reassign(command)
            if command.recipient_id != self.state.recipient_id:
                await self._hand_over(command)
        return self.view()

    @reassign.validator
    def _check_reassign(self, command: ReassignCommand) -> None:
        if self._status not in OPEN_AFTER_SUBMIT:
            raise refuse(f"reassign is not allowed in status {self._status}")

    @workflow.signal(name="reassign")
    async def reassign_signal(self, command: ReassignCommand) -> None:
        await self._as_signal(EConsultation.reassign, command)

    @workflow.update
    async def opened(self) -> ConsultationView:
        """Answers once the start checks passed and the case (and any first message) is stored.

        Used with update-with-start, so a caller reads its own write right after creating.
        """
        await workflow.wait_condition(lambda: self._opened or self._start_refusal is not None)
        if self._start_refusal is not None:
            raise self._start_refusal
        async with self._turn():
            return self.view()

    @workflow.query(name="state")
    def view(self) -> ConsultationView:
        return self.state.view()

    # --- the effects of each event --------------------------------------------------------

    async def _patient_writes(
        self,
        message_id: str | None,
        content: MessageContent,
        *,
        first: bool,
        representative: Representative | None = None,
    ) -> None:
        """submit, or a follow-up: store, journal, fresh deadline, the clinician is told."""
        s = self.state
        unwritten = await self._store_and_journal(
            message_id, Role.PATIENT, s.patient.id, content, representative
        )
        now = workflow.now()
        if first:
            s.submitted_at = now
        s.reply_due_at = reply_due_at(now, s.reply_within_working_days, s.closed_days)
        s.reminder_at = reminder_at(s.reply_due_at)
        s.reminded = s.overdue = False
        s.awaiting_patient_since = None
        s.status = Status.AWAITING_CLINICIAN
        await self._record_change(unwritten)
        self._notify(Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE)

    async def _clinician_replies(self, command: ReplyCommand) -> None:
        s = self.state
        unwritten = await self._store_and_journal(
            command.message_id, Role.CLINICIAN, command.author_id, command.message
        )
        await self._settle_copayment_once(command.billable, command.author_id)
        s.reply_due_at = s.reminder_at = None
        s.overdue = False
        s.awaiting_patient_since = workflow.now()
        s.status = Status.AWAITING_PATIENT
        await self._record_change(unwritten)
        self._notify(Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE)

    async def _close_by_clinician(self, command: CloseCommand) -> None:
        unwritten = Unwritten()
        if command.message is not None:
            unwritten = await self._store_and_journal(
                command.message_id, Role.CLINICIAN, command.clinician_id, command.message
            )
            await self._settle_copayment_once(command.billable, command.clinician_id)
        unwritten += await self._journal(
            f"close:{self.state.consultation_id}",
            JournalEntryKind.CLOSE,
            Role.CLINICIAN,
            command.clinician_id,
            "E-consultation closed by the clinician.",
        )
        await self._finish(Status.CLOSED, CloseReason.CLINICIAN, unwritten)
        self._notify(Audience.PATIENT, NotificationEvent.CLOSED)

    async def _hand_over(self, command: ReassignCommand) -> None:
        """reassign: the practice's other clinician answers from now on; the deadline is kept."""
        s = self.state
        directory = await self._directory_answer(
            CaseActivities.check_reassignment,
            ReassignmentCheck(
                recipient_id=command.recipient_id,
                practice_id=s.practice_id,
                on_day=oslo_day(workflow.now()),
            ),
        )
        former, s.recipient_id = s.recipient_id, directory.recipient_id
        # Later patient messages get the new recipient's reply time; this deadline stays.
        s.reply_within_working_days = directory.reply_within_working_days
        unwritten = await self._journal(
            f"reassign:{s.consultation_id}:{s.revision}",
            JournalEntryKind.REASSIGN,
            Role.SYSTEM,
            command.by,
            f"E-consultation reassigned by {command.by} from clinician {former} to clinician "
            f"{s.recipient_id}. Reason: {command.reason}",
        )
        await self._record_change(unwritten)
        self._notify(Audience.CLINICIAN, NotificationEvent.REASSIGNED)

    async def _withdraw_before_reply(self) -> None:
        s = self.state
        unwritten = await self._journal(
            f"withdraw:{s.consultation_id}",
            JournalEntryKind.WITHDRAW,
            Role.PATIENT,
            s.patient.id,
            "E-consultation withdrawn by the patient before any reply.",
        )
        await self._finish(Status.WITHDRAWN, None, unwritten)
        self._notify(Audience.CLINICIAN, NotificationEvent.WITHDRAWN)

    async def _finish(
        self, status: Status, reason: CloseReason | None, unwritten: Unwritten | None = None
    ) -> None:
        s = self.state
        s.status = status
        s.close_reason = reason
        s.closed_at = workflow.now()
        s.reply_due_at = s.reminder_at = None
        # A settlement still in flight decides the co-payment itself; none ever started: nothing.
        if s.copayment.status == CopaymentStatus.PENDING and not self._settling:
            s.copayment = CopaymentOutcome(status=CopaymentStatus.NOT_APPLICABLE)
        await self._record_change(unwritten)

    # --- timers ---------------------------------------------------------------------------

    async def _expire_draft(self) -> None:
        """draft timeout: expired, and nothing journaled, notified or billed."""
        await self._finish(Status.EXPIRED, None)

    async def _remind(self) -> None:
        self.state.reminded = True
        await self._record_change()
        self._notify(Audience.CLINICIAN, NotificationEvent.REMINDER)

    async def _mark_overdue(self) -> None:
        s = self.state
        s.overdue = True
        await self._record_change()
        self._notify(Audience.PRACTICE, NotificationEvent.OVERDUE)
        self._notify(Audience.PATIENT, NotificationEvent.ANSWER_LATE)

    async def _close_for_inactivity(self) -> None:
        s = self.state
        unwritten = await self._journal(
            f"auto_close:{s.consultation_id}",
            JournalEntryKind.AUTO_CLOSE,
            Role.SYSTEM,
            "econsult",
            "E-consultation closed automatically after 30 days without an answer from the patient.",
        )
        await self._finish(Status.CLOSED, CloseReason.INACTIVE, unwritten)
        self._notify(Audience.PATIENT, NotificationEvent.CLOSED)

    def _next_timer(self) -> tuple[datetime, Callable[[], Awaitable[None]]] | None:
        """The one place that says which deadline the case waits for next."""
        s = self.state
        if s.status == Status.DRAFT:
            return s.created_at + DRAFT_EXPIRES_AFTER, self._expire_draft
        if s.status == Status.AWAITING_CLINICIAN and s.reminder_at and s.reply_due_at:
            if not s.reminded:
                return s.reminder_at, self._remind
            if not s.overdue:
                return s.reply_due_at, self._mark_overdue
        if s.status == Status.AWAITING_PATIENT and s.awaiting_patient_since:
            return s.awaiting_patient_since + INACTIVE_CLOSES_AFTER, self._close_for_inactivity
        return None

    def _next_due(self) -> tuple[datetime, str] | None:
        timer = self._next_timer()
        return None if timer is None else (timer[0], timer[1].__name__)

    async def _wait_for_event_or_timer(self) -> None:
        timer = self._next_timer()
        revision = self.state.revision
        due = self._next_due()
        # Wake for a new deadline, not for every change: a change that leaves the deadline
        # as it was (a settled co-payment, a reassignment) keeps the running timer.
        keep_timer = self._patched(TIMER_KEPT_WHILE_DUE)

        def still_due() -> bool:
            if keep_timer:
                return not self.state.status.is_final and self._next_due() == due
            return self.state.revision == revision

        def changed() -> bool:
            return not still_due() or self._should_continue_as_new()

        if timer is None:
            await workflow.wait_condition(changed)
            return
        due_at, fire = timer
        delay = due_at - workflow.now()
        if delay > timedelta(0):
            try:
                await workflow.wait_condition(
                    changed, timeout=delay, timeout_summary=fire.__name__.strip("_")
                )
                return
            except TimeoutError:
                pass
        async with self._lock:
            # A handler may have moved the case on while the timer fired.
            if still_due():
                await fire()

    # --- building blocks --------------------------------------------------------------------

    @staticmethod
    def _patched(change: str) -> bool:
        """Whether this case runs `change`: always, if it was started by this code."""
        return workflow.patched(EVERY_CHANGE_ABOVE) or workflow.patched(change)

    @property
    def _status(self) -> Status:
        return self.state.status if self._opened else self._opening_status

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Handlers wait for the start checks to pass, then take turns."""
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            yield

    async def _as_signal(
        self,
        update: workflow.UpdateMethodMultiParam[[EConsultation, Command], ConsultationView],
        command: Command,
    ) -> None:
        """A command sent as a signal runs its update's body, validator check included.

        A refused signal changes nothing; failing the workflow over it would lose the case.
        """
        # The SDK types update methods for sync and async handlers alike; ours are async.
        handled = cast(Awaitable[ConsultationView], update(self, command))
        try:
            await handled
        except ApplicationError as refusal:
            workflow.logger.warning(
                "signal refused",
                extra={"reason": refusal.type, "consultation_id": self.state.consultation_id},
            )

    def _check_clinician(self, clinician_id: str) -> None:
        if clinician_id != self.state.recipient_id:
            raise ApplicationError(
                "not the clinician of this consultation", type=Refusal.NOT_A_PARTY
            )

    def _check_patient(self, patient_id: str) -> None:
        if patient_id != self.state.patient.id:
            raise ApplicationError("not the patient of this consultation", type=Refusal.NOT_A_PARTY)

    def _check_representative(self, representative: Representative | None) -> None:
        refusal = representative_refusal(
            self.state.patient, representative, oslo_day(workflow.now())
        )
        if refusal is not None:
            raise self._representative_refused(refusal)

    @staticmethod
    def _representative_refused(reason: str) -> ApplicationError:
        return ApplicationError(reason, type=Refusal.REPRESENTATIVE_NOT_ALLOWED, non_retryable=True)

    def _is_duplicate(self, message_id: str | None) -> bool:
        return message_id is not None and message_id in self.state.seen_message_ids

    async def _store_and_journal(
        self,
        message_id: str | None,
        role: Role,
        author_id: str,
        content: MessageContent,
        representative: Representative | None = None,
    ) -> Unwritten:
        s = self.state
        message = MessageToStore(
            message_id=message_id or str(workflow.uuid4()),
            consultation_id=s.consultation_id,
            author_role=role,
            author_id=author_id,
            content=content,
            created_at=workflow.now(),
            representative=representative,
        )
        together = self._writes_together(content)
        if not together:
            try:
                await self._case_store(CaseActivities.store_message, message)
            except ActivityError as error:
                # An unknown attachment refuses the message before anything else is written.
                raise ApplicationError(
                    f"message refused: {error.cause}", type=UNKNOWN_ATTACHMENT, non_retryable=True
                ) from error
        s.seen_message_ids.append(message.message_id)
        s.message_count += 1
        self._messages_this_run += 1
        # Written on the patient's behalf: the representative is the entry's author.
        journal = await self._journal(
            f"message:{message.message_id}",
            JournalEntryKind.MESSAGE,
            role,
            representative.id if representative else author_id,
            on_behalf_text(s.patient.id, representative, content.body),
            [a.id for a in content.attachments],
        )
        return Unwritten(message if together else None) + journal

    def _writes_together(self, content: MessageContent) -> bool:
        """Whether a message is written with its event's case record, in one activity.

        Not with attachments: binding them may refuse the message, and then nothing else of
        the event may have been written or changed, so such a message is stored first.
        """
        return self._patched(ONE_WRITE_PER_EVENT) and not content.attachments

    async def _journal(
        self,
        entry_key: str,
        kind: JournalEntryKind,
        role: Role,
        author_id: str,
        text: str,
        attachment_ids: list[str] | None = None,
    ) -> Unwritten:
        entry = JournalEntryInput(
            entry_key=entry_key,
            consultation_id=self.state.consultation_id,
            patient_id=self.state.patient.id,
            kind=kind,
            author_role=role,
            author_id=author_id,
            text=text,
            attachment_ids=attachment_ids or [],
            occurred_at=workflow.now(),
        )
        if self._patched(ONE_WRITE_PER_EVENT):
            return Unwritten(journal=[entry])
        journaled = await workflow.execute_activity_method(
            JournalActivities.write_journal_entry,
            entry,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        # Only a worker with a record system configured asks for this, so histories without
        # it replay unchanged; the patch keeps a rolling deploy's older workers consistent.
        if journaled.forward and self._patched(FORWARD_JOURNAL):
            self._in_background(self._forward(JournalForward(entry_key=entry_key)))
        return Unwritten()

    async def _forward(self, forward: JournalForward) -> None:
        try:
            await workflow.execute_activity_method(
                RecordSystemActivities.forward_journal_entry,
                forward,
                start_to_close_timeout=FORWARD_TIMEOUT,
                retry_policy=FORWARD_RETRY,
            )
        except ActivityError:
            # Refused for good: the journal row keeps the record system's status for ops.
            workflow.logger.error("journal entry refused", extra={"entry_key": forward.entry_key})

    async def _settle_copayment_once(self, billable: bool, clinician_id: str) -> None:
        """At the first clinician message: bill the clinician who wrote it, at their rate.

        In the background: a frikort register that cannot be reached delays the charge, never
        the reply, the patient's notification or the next command. The charge row is keyed by
        the consultation, so it is written once; the case completes only after it settled.
        """
        s = self.state
        if s.clinician_has_replied:
            return
        s.clinician_has_replied = True
        settlement = self._settle(billable, clinician_id, workflow.now())
        if self._patched(SETTLE_IN_BACKGROUND):
            self._settling = True
            self._in_background(self._settle_in_background(settlement))
        else:
            s.copayment = await settlement

    async def _settle_in_background(self, settlement: Awaitable[CopaymentOutcome]) -> None:
        outcome = await settlement
        async with self._lock:
            self.state.copayment = outcome
            self._settling = False
            await self._record_change()

    async def _settle(
        self, billable: bool, clinician_id: str, replied_at: datetime
    ) -> CopaymentOutcome:
        s = self.state
        frikort = False
        if self._patched(FRIKORT_AT_REPLY) and billable:
            frikort = await self._holds_frikort_on(oslo_day(replied_at))
        return await self._case_store(
            BillingActivities.settle_copayment,
            SettleCopayment(
                consultation_id=s.consultation_id,
                patient=s.patient,
                replied_at=replied_at,
                billable=billable,
                clinician_id=clinician_id,
                frikort_on_reply_day=frikort,
            ),
        )

    async def _holds_frikort_on(self, day: date) -> bool:
        """The frikort register's answer for `day`, unless the patient is exempt anyway."""
        s = self.state
        if exemption_reason(s.patient, day) is not None:
            return False
        answer = await workflow.execute_activity_method(
            BillingActivities.ask_frikort_register,
            FrikortQuestion(patient_id=s.patient.id, on_day=day),
            start_to_close_timeout=FRIKORT_TIMEOUT,
            retry_policy=FRIKORT_RETRY,
        )
        return answer.holds_frikort

    async def _record_change(self, unwritten: Unwritten | None = None) -> None:
        """Bump the revision, show it to ops (search attributes) and to people (case store),
        with the event's message and journal entries when they are written together."""
        s = self.state
        s.revision += 1
        updates = sa.case_attributes(s.status.value, s.recipient_id, s.reply_due_at, s.overdue)
        if self._patched(SEARCH_ATTRIBUTES_ON_CHANGE):
            # Each upsert is a history event and a visibility write on the server: send only
            # what differs from what the workflow already shows (carried over continue-as-new).
            updates = sa.changed(workflow.info().typed_search_attributes, updates)
        if updates:
            workflow.upsert_search_attributes(updates)
        if unwritten is None or (unwritten.message is None and not unwritten.journal):
            await self._case_store(CaseActivities.record_consultation, s.record())
            return
        recorded = await self._case_store(
            CaseActivities.record_event,
            CaseEvent(record=s.record(), message=unwritten.message, journal=unwritten.journal),
        )
        if recorded.forward:
            for entry in unwritten.journal:
                self._in_background(self._forward(JournalForward(entry_key=entry.entry_key)))

    def _notify(self, audience: Audience, event: NotificationEvent) -> None:
        """Send in the background: a slow gateway never holds up the journal or the next event.

        The patient is addressed by consultation id only: the portal knows its patient, and
        a patient id may be a national identity number, which notifications never carry.
        """
        s = self.state
        recipients = {Audience.CLINICIAN: s.recipient_id, Audience.PRACTICE: s.practice_id}
        notification = NotificationInput(
            notification_key=f"{s.consultation_id}:{s.revision}:{event.value}:{audience.value}",
            consultation_id=s.consultation_id,
            audience=audience,
            recipient_id=recipients.get(audience),
            event=event,
            reply_due_at=s.reply_due_at,
            occurred_at=workflow.now(),
        )
        self._in_background(self._deliver(notification))

    def _in_background(self, delivery: Coroutine[Any, Any, None]) -> None:
        self._background = [task for task in self._background if not task.done()]
        self._background.append(asyncio.create_task(delivery))

    async def _deliver(self, notification: NotificationInput) -> None:
        try:
            await workflow.execute_activity_method(
                NotificationActivities.send_notification,
                notification,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                schedule_to_close_timeout=NOTIFY_GIVES_UP_AFTER,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError:
            # The outbox row stays unsent for ops to follow up; the case goes on.
            workflow.logger.error(
                "notification undelivered",
                extra={"notification_key": notification.notification_key},
            )

    def _should_continue_as_new(self) -> bool:
        return (
            self._messages_this_run >= self._messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _case_store(self, activity: Callable[[Any, In], Awaitable[Out]], argument: In) -> Out:
        """A short write to (or read of) the case store, as a local activity.

        Local: no server round trip per write, so a lifecycle costs the server a fraction of
        the events. Histories from before the change replay with regular activities.
        """
        if self._patched(LOCAL_CASE_STORE):
            return await workflow.execute_local_activity_method(
                activity,
                argument,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        return await workflow.execute_activity_method(
            activity,
            argument,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    async def _directory_answer(
        self, check: Callable[[Any, In], Awaitable[DirectoryAnswer]], argument: In
    ) -> DirectoryAnswer:
        try:
            return await self._case_store(check, argument)
        except ActivityError as error:
            # Refuse with the directory's own refusal, not a wrapped activity error.
            if isinstance(error.cause, ApplicationError):
                raise error.cause from None
            raise

    async def _settle_in_flight_work(self) -> None:
        """Before completing or continuing as new: no handler running, no delivery in flight.

        A handler may start a notification while others drain, so look again until both are
        quiet at once; the caller then completes without another await.
        """
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            pending = [task for task in self._background if not task.done()]
            if not pending:
                return
            await asyncio.gather(*pending)
