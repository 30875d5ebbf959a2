"""What a 1.0 event writes: the builders (domain/entries.py), the bill and the event's writes."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.effects import JournalEntryInput, MessageToStore, NotificationInput
    from domain.entries import (
        closed,
        closed_for_inactivity,
        message_to_store,
        message_written,
        next_run,
        notification,
        reassigned,
        withdrawn,
    )
    from domain.events import Bill

__all__ = [
    "EventWrites",
    "closed",
    "closed_for_inactivity",
    "message_to_store",
    "message_written",
    "next_run",
    "notification",
    "reassigned",
    "withdrawn",
]


@dataclass
class EventWrites:
    """What an event writes besides its case row, in the same activity: its message (unless
    it was stored first, on its own), its journal entries, and the message it bills for."""

    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = field(default_factory=list)
    bill: Bill | None = None
    # Queued in the same transaction (a transactional outbox); the event is not empty for them.
    notifications: list[NotificationInput] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing but the case row: written with one statement, by `record_consultation`."""
        return self.message is None and not self.journal
