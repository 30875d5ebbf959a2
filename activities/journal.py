"""Journal activity: every message and every close or withdraw goes into the patient's record."""

from __future__ import annotations

from temporalio import activity

from activities.adapters import RecordSystem
from domain.models import JournalEntryInput, JournalEntryResult


class JournalActivities:
    def __init__(self, record_system: RecordSystem, *, forward: bool = False) -> None:
        self._record_system = record_system
        # Whether the workflow should send each entry on to the external record system.
        self._forward = forward

    @activity.defn
    async def write_journal_entry(self, entry: JournalEntryInput) -> JournalEntryResult:
        reference = await self._record_system.write(entry)
        return JournalEntryResult(
            entry_key=entry.entry_key, record_reference=reference, forward=self._forward
        )
