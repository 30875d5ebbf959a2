"""EConsultation: one durable workflow per consultation, read as the table of docs/lifecycle.md.

Decide, then commit: each handler and timer asks a pure function of domain/decisions.py for
the new state and the one event it brings (or a refusal), commits the event with one local
activity that writes everything it implies in one transaction, keeps the new state only then,
and starts the event's deliveries (notifications, journal forwards, the co-payment's
settlement) in the background. Handlers and timers take one lock, so two events never
interleave; the main loop waits for the next timer or a change, whichever comes first.

Every command is an update with a validator (the API's synchronous yes or no, before history)
and a signal of the same name (backend services) that runs the update's body. A run started
on 1.0 keeps the 1.0 flow (workflows/v1) to its end: the `DECIDE_THEN_COMMIT` patch.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import checks, decisions
    from domain.checks import Refused
    from domain.copayment_case import CopaymentCase
    from domain.decisions import Decision
    from domain.effects import DirectoryAnswer, DirectoryCheck, ReassignmentCheck
    from domain.entries import copayment_settled, settled_as
    from domain.events import Bill, Committed
    from domain.models import (
        CloseCommand,
        CloseReason,
        ConsultationStart,
        ConsultationView,
        ReassignCommand,
        Refusal,
        ReplyCommand,
        Role,
        SubmitCommand,
        WithdrawCommand,
    )
    from domain.parties import Representative, RepresentativeRelation
    from domain.working_days import oslo_day
    from workflows.calls import (
        CHECK_DIRECTORY,
        CHECK_REASSIGNMENT,
        ask_frikort_register,
        closed_days_now,
        commit,
        decline_text,
        deliver,
        forward_journal_entry,
        refusal_or,
        refused,
        show_case,
    )
    from workflows.turns import Timer, TurnTaking

# Imported in the sandbox, as the workflow module itself would be.
from workflows.v1.consultation import ConsultationV1

# Runs that began before it replay on the 1.0 flow; new runs take this one.
DECIDE_THEN_COMMIT = "decide-then-commit"
# A signal has no validator to refuse a retired `guardian`; runs from before this patch took
# such signals (and replay taking them), runs since refuse them as the update would.
GUARDIAN_SIGNALS_REFUSED = "guardian-signals-refused"
# Cases started since judge the patient's claimed exemption (docs/copayment.md): the clinician
# may overrule it, age-checked codes must fit. Asked once, at a case's start; the state keeps
# the answer across continue-as-new, so a case keeps the rules it started with.
EXEMPTIONS_JUDGED = "exemptions-judged"
# Cases settled since tell the portal (`econsult.copayment_settled`); it no longer polls.
COPAYMENT_SETTLED_EVENT = "copayment-settled-event"
# Runs since make each event's first delivery attempts in its commit (notifications, the
# frikort register) and start activities only for what did not answer there. The one patch a
# new run asks: it implies the three above (this flow, exemptions judged, closed days read at
# each message), each patch marker costing the history two events.
FIRST_ATTEMPT_IN_COMMIT = "first-attempt-in-commit"


class Consultation(TurnTaking):
    """The consultation's flow: its state, its handlers' bodies and its timers."""

    def __init__(self, start: ConsultationStart, *, first_attempt: bool = False) -> None:
        super().__init__(start)
        # Asked once per run, by the shell: it governs only what this run's history holds.
        self._first_attempt = first_attempt
        self.state = start.carried_state or decisions.new_case(
            start,
            workflow.now(),
            exemptions_judged=first_attempt or workflow.patched(EXEMPTIONS_JUDGED),
        )

    async def _open(self, start: ConsultationStart) -> None:
        """start: the co-payment accepted and the directory's yes, then the case committed."""
        s = self.state
        _refuse(checks.check_start(s, start, oslo_day(s.created_at)))
        check = DirectoryCheck(
            patient_id=s.patient.id,
            clinician_id=start.clinician_id,
            recipient_id=start.recipient_id,
            on_day=oslo_day(s.created_at),
        )
        directory = await refusal_or(CHECK_DIRECTORY, check, DirectoryAnswer)
        async with self._lock:
            now, message_id = workflow.now(), self._message_id(start.message_id)
            await self._commit(decisions.open_case(s, start, directory, now, message_id))
            self._opened = True

    # --- commands: the bodies of the updates (and of the signals of the same names) ---------

    async def submit_signal(self, command: SubmitCommand) -> None:
        await self._as_signal(self.submit(command))

    async def submit(self, command: SubmitCommand) -> ConsultationView:
        async with self._turn(self.check_submit, command):
            message_id = self._message_id(command.message_id)
            closed_days = await self._closed_days_now()
            now = workflow.now()
            await self._commit(decisions.submit(self.state, command, now, message_id, closed_days))
        return self.view()

    def check_submit(self, command: SubmitCommand) -> None:
        _refuse(checks.check_submit(self._judged, command, self._today))

    async def reply_signal(self, command: ReplyCommand) -> None:
        await self._as_signal(self.reply(command))

    async def reply(self, command: ReplyCommand) -> ConsultationView:
        async with self._turn(self.check_reply, command):
            message_id = self._message_id(command.message_id)
            closed_days = None
            if command.author_role == Role.PATIENT:
                closed_days = await self._closed_days_now()
            now = workflow.now()
            await self._commit(decisions.reply(self.state, command, now, message_id, closed_days))
        return self.view()

    def check_reply(self, command: ReplyCommand) -> None:
        _refuse(checks.check_reply(self._judged, command, self._today))

    async def close_signal(self, command: CloseCommand) -> None:
        await self._as_signal(self.close(command))

    async def close(self, command: CloseCommand) -> ConsultationView:
        async with self._turn(self.check_close, command):
            text = None
            if command.reason == CloseReason.DECLINED and command.message is None:
                text = await decline_text(self.state.practice_id)
            message_id = self._message_id(command.message_id)
            now = workflow.now()
            await self._commit(decisions.close(self.state, command, now, message_id, text))
        return self.view()

    def check_close(self, command: CloseCommand) -> None:
        _refuse(checks.check_close(self._judged, command, self._today))

    async def withdraw_signal(self, command: WithdrawCommand) -> None:
        await self._as_signal(self.withdraw(command))

    async def withdraw(self, command: WithdrawCommand) -> ConsultationView:
        async with self._turn(self.check_withdraw, command):
            await self._commit(decisions.withdraw(self.state, command, workflow.now()))
        return self.view()

    def check_withdraw(self, command: WithdrawCommand) -> None:
        _refuse(checks.check_withdraw(self._judged, command, self._today))

    async def reassign_signal(self, command: ReassignCommand) -> None:
        await self._as_signal(self.reassign(command))

    async def reassign(self, command: ReassignCommand) -> ConsultationView:
        async with self._turn(self.check_reassign, command):
            s = self.state
            if command.recipient_id != s.recipient_id:
                check = ReassignmentCheck(
                    recipient_id=command.recipient_id,
                    practice_id=s.practice_id,
                    on_day=oslo_day(workflow.now()),
                )
                directory = await refusal_or(CHECK_REASSIGNMENT, check, DirectoryAnswer)
                await self._commit(decisions.reassign(s, command, directory, workflow.now()))
        return self.view()

    def check_reassign(self, command: ReassignCommand) -> None:
        _refuse(checks.check_reassign(self._judged, command))

    # --- timers and the co-payment's settlement -------------------------------------------

    def _next_timer(self) -> Timer | None:
        due = decisions.next_timer(self.state)
        if due is None:
            return None
        at, kind = due

        async def fire() -> None:
            await self._commit(decisions.timer_fired(self.state, kind, workflow.now()))

        fire.__name__ = kind.value
        return at, fire

    async def _settle(self, bill: Bill, specialist: bool, frikort: bool | None) -> None:
        """In the background: a frikort register that cannot be reached delays the charge,
        never the reply, the patient's notification or the next command; the case completes
        only after it. `frikort`: the register's answer to the commit, if it gave one."""
        if frikort is None:
            frikort = CopaymentCase(self.state).frikort_without_register(bill)
        if frikort is None:
            frikort = await ask_frikort_register(self.state.patient.id, oslo_day(bill.at))
        async with self._lock:
            now = workflow.now()
            # A first-attempt-in-commit run tells the portal in the settlement's own event.
            decided = decisions.settle(
                self.state,
                bill,
                now,
                specialist=specialist,
                frikort=frikort,
                tell_portal=self._first_attempt,
            )
            committed = await self._commit(decided)
            # Runs before it: asked at the settlement, so a history recorded before the event
            # existed replays without it.
            if (
                not self._first_attempt
                and committed
                and committed.copayment
                and workflow.patched(COPAYMENT_SETTLED_EVENT)
            ):
                told = copayment_settled(self.state, committed.copayment, now)
                self._in_background(deliver(told))

    # --- commit ---------------------------------------------------------------------------

    async def _commit(self, decision: Decision) -> Committed | None:
        """Commit the decided event, keep its state, show it to ops, start its deliveries."""
        if decision is None:
            return None
        if isinstance(decision, Refused):
            raise refused(decision.reason, decision.refusal)
        state, event = decision.state, decision.event
        if self._first_attempt:
            event.first_attempt = True
            event.ask_frikort = CopaymentCase(state).frikort_question(event.bill)
        committed = await commit(event)
        if committed.copayment is not None:
            CopaymentCase(state).settled(committed.copayment)
        self.state = state
        show_case(state)
        if event.message is not None:
            self._messages_this_run += 1
        for note in event.notifications:
            if note.notification_key in committed.notified:
                continue
            if committed.copayment is not None:
                # As the commit priced it, for a delivery the first attempt left to go on.
                note = settled_as(note, committed.copayment)
            if event.first_attempt:
                # Tried once by the commit: the delivery asks the row how it stands first.
                note = note.model_copy(update={"queued": False})
            self._in_background(deliver(note))
        if committed.forward:
            for entry in event.journal:
                self._in_background(forward_journal_entry(entry))
        if event.bill is not None:
            specialist = committed.specialist_in_general_practice
            self._in_background(self._settle(event.bill, specialist, committed.frikort))
        return committed

    @property
    def _today(self) -> date:
        return oslo_day(workflow.now())

    async def _closed_days_now(self) -> list[date] | None:
        return await closed_days_now(self.state.practice_id, always=self._first_attempt)

    @staticmethod
    def _message_id(message_id: str | None) -> str:
        return message_id or str(workflow.uuid4())


def _refuse(decision: Decision) -> None:
    if isinstance(decision, Refused):
        raise refused(decision.reason, decision.refusal)


@workflow.defn(name="EConsultation")
class EConsultation:
    # Updates are named after their methods: with `name=` the SDK types their answer as a
    # coroutine, and callers could not call them by method reference.

    @workflow.init
    def __init__(self, start: ConsultationStart) -> None:
        self._flow: Consultation | ConsultationV1
        # A new run asks only the newest flow's patch; a recorded run answers the one it took.
        if workflow.patched(FIRST_ATTEMPT_IN_COMMIT):
            self._flow = Consultation(start, first_attempt=True)
        elif workflow.patched(DECIDE_THEN_COMMIT):
            self._flow = Consultation(start)
        else:
            self._flow = ConsultationV1(start)

    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        return await self._flow.run(start)

    @workflow.signal(name="submit")
    async def submit_signal(self, command: SubmitCommand) -> None:
        if self._signal_admitted(command.representative):
            await self._flow.submit_signal(command)

    @workflow.update
    async def submit(self, command: SubmitCommand) -> ConsultationView:
        return await self._flow.submit(command)

    @submit.validator
    def _check_submit(self, command: SubmitCommand) -> None:
        self._flow.check_submit(command)
        self._admit(command.representative)

    @workflow.signal(name="reply")
    async def reply_signal(self, command: ReplyCommand) -> None:
        if self._signal_admitted(command.representative):
            await self._flow.reply_signal(command)

    @workflow.update
    async def reply(self, command: ReplyCommand) -> ConsultationView:
        return await self._flow.reply(command)

    @reply.validator
    def _check_reply(self, command: ReplyCommand) -> None:
        self._flow.check_reply(command)
        self._admit(command.representative)

    @workflow.signal(name="close")
    async def close_signal(self, command: CloseCommand) -> None:
        await self._flow.close_signal(command)

    @workflow.update
    async def close(self, command: CloseCommand) -> ConsultationView:
        return await self._flow.close(command)

    @close.validator
    def _check_close(self, command: CloseCommand) -> None:
        self._flow.check_close(command)

    @workflow.signal(name="withdraw")
    async def withdraw_signal(self, command: WithdrawCommand) -> None:
        if self._signal_admitted(command.representative):
            await self._flow.withdraw_signal(command)

    @workflow.update
    async def withdraw(self, command: WithdrawCommand) -> ConsultationView:
        return await self._flow.withdraw(command)

    @withdraw.validator
    def _check_withdraw(self, command: WithdrawCommand) -> None:
        self._flow.check_withdraw(command)
        self._admit(command.representative)

    @workflow.signal(name="reassign")
    async def reassign_signal(self, command: ReassignCommand) -> None:
        await self._flow.reassign_signal(command)

    @workflow.update
    async def reassign(self, command: ReassignCommand) -> ConsultationView:
        return await self._flow.reassign(command)

    @reassign.validator
    def _check_reassign(self, command: ReassignCommand) -> None:
        self._flow.check_reassign(command)

    def _signal_admitted(self, representative: Representative | None) -> bool:
        """Whether a command sent as a signal may run: a new `guardian` is refused and logged,
        as its update's validator refuses it. The patch is asked only for a guardian, so other
        runs carry no marker for it."""
        if representative is None or representative.relation != RepresentativeRelation.GUARDIAN:
            return True
        if not workflow.patched(GUARDIAN_SIGNALS_REFUSED):
            return True
        workflow.logger.warning(
            "signal refused",
            extra={
                "reason": Refusal.REPRESENTATIVE_NOT_ALLOWED.value,
                "workflow_id": workflow.info().workflow_id,
            },
        )
        return False

    def _admit(self, representative: Representative | None) -> None:
        """A new command's representative, under the rules for new messages (a `guardian` is
        refused), on either flow. Only validators admit: they never replay, while the flows'
        checks, which do, judge a recorded guardian's command as it was judged when taken."""
        today = oslo_day(workflow.now())
        _refuse(checks.check_new_representative(self._flow.state, representative, today))

    @workflow.update
    async def opened(self) -> ConsultationView:
        """Answers once the start checks passed and the case (and any first message) is stored.

        Used with update-with-start, so a caller reads its own write right after creating.
        """
        return await self._flow.opened()

    @workflow.query(name="state")
    def view(self) -> ConsultationView:
        return self._flow.view()
