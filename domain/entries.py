"""What an event writes, built from the consultation's state: its message, journal entries and
notifications, and the next run's input. Pure: the time comes from the caller."""

from __future__ import annotations

from datetime import datetime

from domain import texts
from domain.effects import (
    Audience,
    JournalEntryInput,
    JournalEntryKind,
    MessageToStore,
    NotificationEvent,
    NotificationInput,
    RefusedEntry,
)
from domain.models import (
    ConsultationStart,
    ConsultationState,
    Copayment,
    MessageContent,
    ReassignCommand,
    Role,
)
from domain.parties import Representative, RepresentativeRef


def next_run(start: ConsultationStart, state: ConsultationState) -> ConsultationStart:
    """The input of the run after continue-as-new: the state carried, the first message not
    sent again."""
    carried = {"carried_state": state, "message": None, "message_id": None}
    return start.model_copy(update={**carried, "representative": None})


def message_to_store(
    state: ConsultationState,
    message_id: str,
    role: Role,
    author_id: str,
    content: MessageContent,
    at: datetime,
    representative: Representative | None,
) -> MessageToStore:
    return MessageToStore(
        message_id=message_id,
        consultation_id=state.consultation_id,
        author_role=role,
        author_id=author_id,
        content=content,
        created_at=at,
        representative=representative,
    )


def journal_entry(
    state: ConsultationState,
    entry_key: str,
    kind: JournalEntryKind,
    role: Role,
    author_id: str,
    text: str,
    at: datetime,
    attachment_ids: list[str] | None = None,
    representative: RepresentativeRef | None = None,
) -> JournalEntryInput:
    """An entry naming who really wrote it (the record system shows a representative, the
    practice for a reassignment) and whom the consultation is addressed to at that moment."""
    return JournalEntryInput(
        entry_key=entry_key,
        consultation_id=state.consultation_id,
        patient_id=state.patient.id,
        kind=kind,
        author_role=role,
        author_id=author_id,
        text=text,
        attachment_ids=attachment_ids or [],
        occurred_at=at,
        representative=representative,
        practice_id=state.practice_id,
        recipient_id=state.recipient_id,
    )


def notification(
    state: ConsultationState,
    audience: Audience,
    event: NotificationEvent,
    at: datetime,
    *,
    queued: bool = False,
) -> NotificationInput:
    """One notification per event and audience, keyed so a retry never sends it twice.

    The patient is addressed by consultation id only: the portal knows its patient, and a
    patient id may be a national identity number, which notifications never carry.
    """
    recipients = {Audience.CLINICIAN: state.recipient_id, Audience.PRACTICE: state.practice_id}
    return NotificationInput(
        notification_key=f"{state.consultation_id}:{state.revision}:{event.value}:{audience.value}",
        consultation_id=state.consultation_id,
        audience=audience,
        recipient_id=recipients.get(audience),
        event=event,
        reply_due_at=state.reply_due_at,
        occurred_at=at,
        practice_id=state.practice_id or None,
        queued=queued,
    )


def copayment_settled(
    state: ConsultationState, copayment: Copayment, at: datetime
) -> NotificationInput:
    """The portal is told the co-payment settled: its status, tariff and amount, by
    consultation id (the state is the one the settlement committed)."""
    told = notification(state, Audience.PATIENT, NotificationEvent.COPAYMENT_SETTLED, at)
    return copayment_settled_of(told, copayment)


def settled_as(note: NotificationInput, outcome: Copayment) -> NotificationInput:
    """The portal's `copayment_settled` notification with the outcome the commit priced (a
    settlement's event decides to tell before the worker's tariff table prices it); any other
    notification as it is."""
    if note.event != NotificationEvent.COPAYMENT_SETTLED:
        return note
    return copayment_settled_of(note, outcome)


def copayment_settled_of(note: NotificationInput, copayment: Copayment) -> NotificationInput:
    settled = Copayment(
        status=copayment.status, tariff=copayment.tariff, amount_nok=copayment.amount_nok
    )
    return note.model_copy(update={"copayment": settled})


def journal_entry_refused(entry: JournalEntryInput, status: int, at: datetime) -> NotificationInput:
    """The practice is told its record system refused an entry for good: the key and the
    status, never the content. Keyed by the entry, so it is told once per entry."""
    event = NotificationEvent.JOURNAL_ENTRY_REFUSED
    return NotificationInput(
        notification_key=f"{entry.entry_key}:{event.value}",
        consultation_id=entry.consultation_id,
        audience=Audience.PRACTICE,
        recipient_id=entry.practice_id,
        event=event,
        occurred_at=at,
        practice_id=entry.practice_id,
        journal_entry=RefusedEntry(entry_key=entry.entry_key, http_status=status),
    )


# The journal entry of each event, in the words the record system shows.


def message_written(state: ConsultationState, message: MessageToStore) -> JournalEntryInput:
    """Written on the patient's behalf: the representative is the entry's author. The text is
    the message as written: who wrote on whose behalf travels in structured fields only, so no
    identity number is in the narrative."""
    by = message.representative
    return journal_entry(
        state,
        f"message:{message.message_id}",
        JournalEntryKind.MESSAGE,
        message.author_role,
        by.id if by else message.author_id,
        message.content.body,
        message.created_at,
        [a.id for a in message.content.attachments],
        # The record system learns who wrote and as what; the birth date was checked, not kept.
        RepresentativeRef(id=by.id, relation=by.relation) if by else None,
    )


def case_entry(
    state: ConsultationState,
    kind: JournalEntryKind,
    role: Role,
    author_id: str,
    text: str,
    at: datetime,
    representative: RepresentativeRef | None = None,
) -> JournalEntryInput:
    """An entry a case has at most one of (closing, withdrawing): keyed by kind and case."""
    key = f"{kind.value}:{state.consultation_id}"
    return journal_entry(state, key, kind, role, author_id, text, at, None, representative)


def closed(
    state: ConsultationState, clinician_id: str, at: datetime, *, declined: bool = False
) -> JournalEntryInput:
    text = texts.DECLINED_BY_CLINICIAN if declined else texts.CLOSED_BY_CLINICIAN
    return case_entry(state, JournalEntryKind.CLOSE, Role.CLINICIAN, clinician_id, text, at)


def withdrawn(
    state: ConsultationState, at: datetime, by: Representative | None = None
) -> JournalEntryInput:
    """Withdrawn on the patient's behalf: the representative is the entry's author, as on a
    message they write."""
    text = texts.WITHDRAWN_BY_REPRESENTATIVE if by else texts.WITHDRAWN_BY_PATIENT
    author_id = by.id if by else state.patient.id
    ref = RepresentativeRef(id=by.id, relation=by.relation) if by else None
    return case_entry(state, JournalEntryKind.WITHDRAW, Role.PATIENT, author_id, text, at, ref)


def reassigned(
    state: ConsultationState, command: ReassignCommand, former: str, at: datetime
) -> JournalEntryInput:
    """Written by the practice: its administrator (`command.by`) is the entry's author."""
    text = texts.REASSIGNED.format(
        by=command.by, former=former, recipient=state.recipient_id, reason=command.reason
    )
    key = f"reassign:{state.consultation_id}:{state.revision}"
    return journal_entry(state, key, JournalEntryKind.REASSIGN, Role.SYSTEM, command.by, text, at)


def closed_for_inactivity(state: ConsultationState, at: datetime, days: int) -> JournalEntryInput:
    """Written by the service: `days` without an answer from the patient."""
    text = texts.CLOSED_FOR_INACTIVITY.format(days=days)
    return case_entry(state, JournalEntryKind.AUTO_CLOSE, Role.SYSTEM, "econsult", text, at)


# A message answers the other side's: the clinician the patient's (or their representative's),
# the patient the clinician's.
_ANSWERED_ROLE = {Role.CLINICIAN: Role.PATIENT, Role.PATIENT: Role.CLINICIAN}


def answered_role(entry: JournalEntryInput) -> Role | None:
    """Whose message this entry answers: its `inResponseTo` is the latest message journaled
    before it by that role. None for entries that answer nothing (close, withdraw, automatic
    close, reassignment)."""
    if entry.kind != JournalEntryKind.MESSAGE:
        return None
    return _ANSWERED_ROLE.get(entry.author_role)
