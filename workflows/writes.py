"""What an event writes, built from the workflow's state: the message, its journal entries and
the notifications. Pure: the time comes from the caller (workflow time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import (
        Audience,
        ConsultationState,
        JournalEntryInput,
        JournalEntryKind,
        MessageToStore,
        NotificationEvent,
        NotificationInput,
        Role,
    )


@dataclass
class EventWrites:
    """What an event writes besides its case row, in the same activity: its message (unless
    it was stored first, on its own) and its journal entries."""

    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.message is None and not self.journal


def journal_entry(
    state: ConsultationState,
    entry_key: str,
    kind: JournalEntryKind,
    role: Role,
    author_id: str,
    text: str,
    at: datetime,
    attachment_ids: list[str] | None = None,
) -> JournalEntryInput:
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
    )


def notification(
    state: ConsultationState, audience: Audience, event: NotificationEvent, at: datetime
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
    )
