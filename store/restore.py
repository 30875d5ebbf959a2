"""Writes that bring a restored case store back up to what the workflows know.

Each goes through the same store code and the same keys as the worker's own writes (the
revision guard on the case row, message ids, entry keys, one charge per consultation), so
rewriting what is already there changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.effects import CaseEvent, JournalEntryInput, MessageToStore, SettleCopayment
from domain.events import Event
from domain.models import ConsultationRecord, CopaymentOutcome
from store.case_writes import Consultations
from store.charges import BilledClinician, Charges
from store.database import autocommit
from store.idempotent import insert_once
from store.journal import JournalTable
from store.tables import Attachment, Consultation, JournalEntry, Message

# What a missing attachment's row says in place of what was uploaded.
MISSING_FILENAME = "missing"
MISSING_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class CaseCounts:
    messages: int
    journal_entries: int


class CaseRestore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._consultations = Consultations(sessions)
        self._journal = JournalTable(sessions)
        self._charges = Charges(sessions)

    async def revision(self, consultation_id: str) -> int | None:
        """The case row's revision; None when the row is not there at all."""
        async with autocommit(self._sessions) as connection:
            return await connection.scalar(
                select(Consultation.revision).where(Consultation.id == consultation_id)
            )

    async def counts(self, consultation_id: str) -> CaseCounts:
        async with autocommit(self._sessions) as connection:
            messages = await connection.scalar(
                select(func.count()).where(Message.consultation_id == consultation_id)
            )
            entries = await connection.scalar(
                select(func.count()).where(JournalEntry.consultation_id == consultation_id)
            )
        return CaseCounts(messages or 0, entries or 0)

    async def save(self, record: ConsultationRecord) -> bool:
        return await self._consultations.save(record)

    async def save_event(self, event: CaseEvent | Event) -> list[str]:
        """The event's row, message and journal entries; the ids of attachments found missing."""
        missing = await self._keep_missing_attachments(event.message) if event.message else []
        # Not its notifications: the workflow's delivery sent them (or still will, writing
        # the row itself); a row written here would stand unsent for good.
        await self._consultations.save_with(event.record, event.message)
        for entry in event.journal:
            await self.journal(entry)
        return missing

    async def add_message(self, message: MessageToStore) -> list[str]:
        """A message stored on its own (one with attachments); the ids of those missing."""
        missing = await self._keep_missing_attachments(message)
        await self._consultations.add_message(message)
        return missing

    async def journal(self, entry: JournalEntryInput) -> None:
        await self._journal.write(entry)

    async def charge(self, request: SettleCopayment, outcome: CopaymentOutcome) -> None:
        """The settlement as the workflow took it (its result in history), recorded once."""
        billed = BilledClinician(request.clinician_id, request.specialist_in_general_practice)
        await self._charges.record_once(request.consultation_id, request.patient, outcome, billed)

    async def _keep_missing_attachments(self, message: MessageToStore) -> list[str]:
        """A row marked missing for each attachment of the message the store has no row of.

        Its content never entered history; its id and digest did (in the message), so the
        message keeps naming it and readers are told it is missing.
        """
        refs = message.content.attachments
        if not refs:
            return []
        missing: list[str] = []
        async with self._sessions.begin() as session:
            for ref in refs:
                added = await insert_once(
                    session,
                    Attachment,
                    {
                        "id": ref.id,
                        "uploaded_by": message.author_id,
                        "filename": MISSING_FILENAME,
                        "content_type": MISSING_CONTENT_TYPE,
                        "size": 0,
                        "sha256": ref.sha256,
                        "content": b"",
                        "created_at": message.created_at or datetime.now(UTC),
                        "missing": True,
                    },
                    ["id"],
                )
                if added:
                    missing.append(ref.id)
        return missing
