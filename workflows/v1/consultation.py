"""The consultation workflow as released in 1.0, frozen: consultations started on it run here
to their end (or their next continue-as-new) on the current worker. Never change what it
issues; delete the package once no 1.0 run is left (docs/guide-developer.md, "Changing the
workflow").

Each event has one handler; the main loop waits for the next timer (draft expiry, reminder,
deadline, inactivity) or for a handler to change the state, whichever comes first. Handlers
and timers take one lock, so effects of two events never interleave.

Every command is an update with a validator (the API's synchronous yes or no) and a signal of
the same name (backend services): the signal runs the update's body, and the body checks the
command again under the lock, because another handler may have moved the case meanwhile.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import checks, decisions
    from domain.checks import Refused
    from domain.copayment_case import CopaymentCase
    from domain.decisions import TimerKind
    from domain.effects import (
        Audience,
        DirectoryCheck,
        NotificationEvent,
        ReassignmentCheck,
    )
    from domain.models import (
        CloseCommand,
        CloseReason,
        ConsultationStart,
        ConsultationView,
        MessageContent,
        ReassignCommand,
        ReplyCommand,
        Role,
        Status,
        SubmitCommand,
        WithdrawCommand,
    )
    from domain.working_days import oslo_day, reminder_at, reply_due_at
    from workflows.calls import CHECK_DIRECTORY, CHECK_REASSIGNMENT
    from workflows.turns import Timer
    from workflows.v1 import writes as entries
    from workflows.v1.calls import (
        decline_text,
        directory_answer,
        refused,
    )
    from workflows.v1.recording import RecordingV1, Tell
    from workflows.v1.writes import EventWrites


class ConsultationV1(RecordingV1):
    def __init__(self, start: ConsultationStart) -> None:
        super().__init__(start)
        self.state = start.carried_state or decisions.new_case(start, workflow.now())

    async def _open(self, start: ConsultationStart) -> None:
        """start: validate co-payment acceptance and the directory, then record the case."""
        _refuse(checks.check_start(self.state, start, oslo_day(workflow.now())))
        directory = await directory_answer(
            CHECK_DIRECTORY,
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
            # A first message is written with the case row, unless it has attachments: those
            # are bound first, to a case row that must exist by then.
            if start.message is None or start.message.attachments:
                await self._record_change()
            if start.message is not None:
                await self._patient_writes(
                    SubmitCommand(
                        message_id=start.message_id,
                        message=start.message,
                        representative=start.representative,
                    )
                )
            # Only now do validators judge by the stored status, and handlers take their turn.
            self._opened = True

    # --- commands ----------------------------------------------------------------------
    # Updates are named after their methods: with `name=` the SDK types their answer as a
    # coroutine, and callers could not call them by method reference.

    # submit: draft -> awaiting_clinician
    async def submit_signal(self, command: SubmitCommand) -> None:
        await self._as_signal(ConsultationV1.submit(self, command))

    async def submit(self, command: SubmitCommand) -> ConsultationView:
        async with self._turn(self.check_submit, command):
            if not self._is_duplicate(command.message_id):
                await self._patient_writes(command)
        return self.view()

    def check_submit(self, command: SubmitCommand) -> None:
        _refuse(checks.check_submit(self._judged, command, oslo_day(workflow.now())))

    # reply: the clinician answers (or answers and closes), or the patient follows up
    async def reply_signal(self, command: ReplyCommand) -> None:
        await self._as_signal(ConsultationV1.reply(self, command))

    async def reply(self, command: ReplyCommand) -> ConsultationView:
        async with self._turn(self.check_reply, command):
            if self._is_duplicate(command.message_id):
                pass
            elif command.author_role == Role.PATIENT:
                await self._patient_writes(command)
            elif command.close:
                await self._close_by_clinician(
                    CloseCommand(
                        message_id=command.message_id,
                        clinician_id=command.author_id,
                        message=command.message,
                        billable=command.billable,
                        exemption=command.exemption,
                        exemption_note=command.exemption_note,
                    )
                )
            else:
                await self._clinician_replies(command)
        return self.view()

    def check_reply(self, command: ReplyCommand) -> None:
        _refuse(checks.check_reply(self._judged, command, oslo_day(workflow.now())))

    # close: the clinician ends the case, with or without a final message
    async def close_signal(self, command: CloseCommand) -> None:
        await self._as_signal(ConsultationV1.close(self, command))

    async def close(self, command: CloseCommand) -> ConsultationView:
        async with self._turn(self.check_close, command):
            await self._close_by_clinician(command)
        return self.view()

    def check_close(self, command: CloseCommand) -> None:
        _refuse(checks.check_close(self._judged, command))

    # withdraw: the patient takes the question back before any clinician reply
    async def withdraw_signal(self, command: WithdrawCommand) -> None:
        await self._as_signal(ConsultationV1.withdraw(self, command))

    async def withdraw(self, command: WithdrawCommand) -> ConsultationView:
        async with self._turn(self.check_withdraw, command):
            s = self.state
            journal = entries.withdrawn(s, workflow.now())
            await self._finish(
                Status.WITHDRAWN,
                None,
                EventWrites(journal=[journal]),
                tell=(Audience.CLINICIAN, NotificationEvent.WITHDRAWN),
            )
        return self.view()

    def check_withdraw(self, command: WithdrawCommand) -> None:
        _refuse(checks.check_withdraw(self._judged, command, oslo_day(workflow.now())))

    # reassign: the practice's other clinician answers from now on; the deadline is kept
    async def reassign_signal(self, command: ReassignCommand) -> None:
        await self._as_signal(ConsultationV1.reassign(self, command))

    async def reassign(self, command: ReassignCommand) -> ConsultationView:
        async with self._turn(self.check_reassign, command):
            if command.recipient_id != self.state.recipient_id:
                await self._hand_over(command)
        return self.view()

    def check_reassign(self, command: ReassignCommand) -> None:
        _refuse(checks.check_reassign(self._judged, command))

    # --- the effects of each event ------------------------------------------------------

    async def _patient_writes(self, command: SubmitCommand | ReplyCommand) -> None:
        """submit, or a follow-up: store, journal, fresh deadline, the clinician is told."""
        s = self.state
        writes = await self._store_message(
            command.message_id, Role.PATIENT, s.patient.id, command.message, command.representative
        )
        now = workflow.now()
        if isinstance(command, SubmitCommand):
            s.submitted_at = now
        s.reply_due_at = reply_due_at(now, s.reply_within_working_days, s.closed_days)
        s.reminder_at = reminder_at(s.reply_due_at)
        s.reminded = s.overdue = s.told_late = False
        s.awaiting_patient_since = None
        s.status = Status.AWAITING_CLINICIAN
        await self._record_change(writes, tell=(Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE))

    async def _clinician_replies(self, command: ReplyCommand) -> None:
        s = self.state
        writes = await self._store_message(
            command.message_id, Role.CLINICIAN, command.author_id, command.message
        )
        self._bill_if_first_billable(writes, command)
        s.reply_due_at = s.reminder_at = None
        s.overdue = False
        s.awaiting_patient_since = workflow.now()
        s.status = Status.AWAITING_PATIENT
        await self._record_change(
            writes, tell=(Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE)
        )

    async def _close_by_clinician(self, command: CloseCommand) -> None:
        """close, with a final message settled as a reply; or declined as not suited to an
        e-consultation: the practice's standard text unless the close carries its own, and
        nothing billed whatever `billable` says."""
        s = self.state
        declined = command.reason == CloseReason.DECLINED
        message = command.message
        if declined and message is None:
            message = MessageContent(body=await decline_text(s.practice_id))
        writes = EventWrites()
        if message is not None:
            writes = await self._store_message(
                command.message_id, Role.CLINICIAN, command.clinician_id, message
            )
            s.clinician_has_replied = True
            if not declined:
                self._bill_if_first_billable(writes, command)
        writes.journal.append(
            entries.closed(s, command.clinician_id, workflow.now(), declined=declined)
        )
        reason = CloseReason.DECLINED if declined else CloseReason.CLINICIAN
        await self._finish(
            Status.CLOSED, reason, writes, tell=(Audience.PATIENT, NotificationEvent.CLOSED)
        )

    async def _hand_over(self, command: ReassignCommand) -> None:
        s = self.state
        directory = await directory_answer(
            CHECK_REASSIGNMENT,
            ReassignmentCheck(
                recipient_id=command.recipient_id,
                practice_id=s.practice_id,
                on_day=oslo_day(workflow.now()),
            ),
        )
        former, s.recipient_id = s.recipient_id, directory.recipient_id
        # Later patient messages get the new recipient's reply time; this deadline stays.
        s.reply_within_working_days = directory.reply_within_working_days
        journal = entries.reassigned(s, command, former, workflow.now())
        await self._record_change(
            EventWrites(journal=[journal]), tell=(Audience.CLINICIAN, NotificationEvent.REASSIGNED)
        )

    async def _finish(
        self,
        status: Status,
        reason: CloseReason | None,
        writes: EventWrites,
        *,
        tell: Tell | None = None,
    ) -> None:
        s = self.state
        s.status = status
        s.close_reason = reason
        s.closed_at = workflow.now()
        s.reply_due_at = s.reminder_at = None
        wrote = s.clinician_has_replied or reason == CloseReason.DECLINED
        CopaymentCase(s).end_unbilled(clinician_wrote=wrote)
        await self._record_change(writes, tell=tell)

    # --- timers -------------------------------------------------------------------------

    async def _expire_draft(self) -> None:
        """draft timeout: expired, and nothing journaled, notified or billed."""
        await self._finish(Status.EXPIRED, None, EventWrites())

    async def _remind(self) -> None:
        self.state.reminded = True
        await self._record_change(tell=(Audience.CLINICIAN, NotificationEvent.REMINDER))

    async def _mark_overdue(self) -> None:
        self.state.overdue = True
        await self._record_change(tell=(Audience.PRACTICE, NotificationEvent.OVERDUE))

    async def _tell_patient_late(self) -> None:
        """08:00 Oslo the morning after the deadline, if still unanswered: never at night."""
        self.state.told_late = True
        await self._record_change(tell=(Audience.PATIENT, NotificationEvent.ANSWER_LATE))

    async def _close_for_inactivity(self) -> None:
        s = self.state
        journal = entries.closed_for_inactivity(
            s, workflow.now(), decisions.INACTIVE_CLOSES_AFTER.days
        )
        await self._finish(
            Status.CLOSED,
            CloseReason.INACTIVE,
            EventWrites(journal=[journal]),
            tell=(Audience.PATIENT, NotificationEvent.CLOSED),
        )

    def _next_timer(self) -> Timer | None:
        due = decisions.next_timer(self.state)
        if due is None:
            return None
        at, kind = due
        fire = {
            TimerKind.EXPIRE_DRAFT: self._expire_draft,
            TimerKind.REMIND: self._remind,
            TimerKind.MARK_OVERDUE: self._mark_overdue,
            TimerKind.TELL_PATIENT_LATE: self._tell_patient_late,
            TimerKind.CLOSE_FOR_INACTIVITY: self._close_for_inactivity,
        }
        return at, fire[kind]


def _refuse(refusal: Refused | None) -> None:
    if refusal is not None:
        raise refused(refusal.reason, refusal.refusal)
