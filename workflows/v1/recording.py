"""How a 1.0 event is recorded, frozen with the 1.0 flow (workflows/v1/consultation.py): its
message and journal entry, its bill, its case row with everything it writes, then its
deliveries in the background. Moved out of the flow's module as they were; never change what
they issue."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.copayment_case import CopaymentCase
    from domain.effects import Audience, NotificationEvent, StoredMessage
    from domain.events import Bill
    from domain.models import CloseCommand, MessageContent, ReplyCommand, Role
    from domain.parties import Representative
    from workflows.turns import TurnTaking
    from workflows.v1 import writes as entries
    from workflows.v1.calls import (
        STORE_MESSAGE,
        deliver,
        forward_journal_entry,
        record_change,
        refusal_or,
        settle_copayment,
    )
    from workflows.v1.writes import EventWrites, message_to_store, notification

# Who is told about an event, and what.
Tell = tuple[Audience, NotificationEvent]


class RecordingV1(TurnTaking):
    """The 1.0 flow's building blocks, shared by its handlers and timers."""

    # --- checks -------------------------------------------------------------------------

    def _is_duplicate(self, message_id: str | None) -> bool:
        return message_id is not None and message_id in self.state.seen_message_ids

    # --- building blocks ----------------------------------------------------------------

    async def _store_message(
        self,
        message_id: str | None,
        role: Role,
        author_id: str,
        content: MessageContent,
        representative: Representative | None = None,
    ) -> EventWrites:
        """The message and its journal entry, to be written with the event's case row.

        A message with attachments is stored first, on its own: binding them may refuse it
        (Refusal.UNKNOWN_ATTACHMENT), and then nothing else of the event may be written.
        """
        s = self.state
        message_id = message_id or str(workflow.uuid4())
        message = message_to_store(
            s, message_id, role, author_id, content, workflow.now(), representative
        )
        if content.attachments:
            await refusal_or(STORE_MESSAGE, message, StoredMessage)
        s.seen_message_ids.append(message.message_id)
        s.message_count += 1
        self._messages_this_run += 1
        journal = entries.message_written(s, message)
        return EventWrites(None if content.attachments else message, [journal])

    def _bill_if_first_billable(
        self, writes: EventWrites, command: ReplyCommand | CloseCommand
    ) -> None:
        """The first clinician message marked billable settles the co-payment, once per case;
        one marked not billable (a clarifying question) leaves it for the answer after it."""
        author = command.author_id if isinstance(command, ReplyCommand) else command.clinician_id
        writes.bill = CopaymentCase(self.state).take(
            author,
            workflow.now(),
            billable=command.billable,
            exemption=command.exemption,
            exemption_note=command.exemption_note,
        )

    async def _settle(self, bill: Bill, specialist: bool) -> None:
        """In the background: a frikort register that cannot be reached delays the charge,
        never the reply, the patient's notification or the next command. The charge row is
        keyed by the consultation, so it is written once; the case completes only after it."""
        outcome = await settle_copayment(self.state, bill, specialist)
        async with self._lock:
            self.state.copayment = outcome
            await self._record_change()

    async def _record_change(
        self, writes: EventWrites | None = None, *, tell: Tell | None = None
    ) -> None:
        """Bump the revision and show the change to ops and people, with what the event writes;
        then settle the co-payment, forward the journal entries and send the notification in
        the background: a slow register or gateway never holds up the next event.

        The notification's outbox row is written in the event's own transaction when the event
        writes more than its case row (a transactional outbox); a timer's event, with nothing
        else to write, keeps to the one-statement case-row write, and the delivery writes it.
        """
        s = self.state
        s.revision += 1
        event = writes or EventWrites()
        note = None
        if tell is not None:
            note = notification(s, *tell, workflow.now(), queued=not event.empty)
            if note.queued:
                event.notifications.append(note)
        recorded = await record_change(s, event)
        if writes is not None and writes.bill is not None:
            specialist = recorded.specialist_in_general_practice
            self._in_background(self._settle(writes.bill, specialist))
        if recorded.forward and writes is not None:
            for entry in writes.journal:
                self._in_background(forward_journal_entry(entry))
        if note is not None:
            self._in_background(deliver(note))
