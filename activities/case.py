"""Case-store activities: the directory check at start, case rows and messages."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters import RecordSystem
from domain.effects import (
    CaseEvent,
    CaseEventResult,
    DirectoryAnswer,
    DirectoryCheck,
    JournalEntryInput,
    MessageToStore,
    ReassignmentCheck,
    RecordResult,
    StoredMessage,
)
from domain.models import ConsultationRecord, Refusal
from store.case_writes import Consultations, UnknownAttachmentError
from store.directory import Directory, DirectoryEntry, RecipientRefusedError


class Forwarding(Protocol):
    """Whether a practice's journal entries go on to an external record system (FHIR)."""

    async def forwards(self, practice_id: str | None) -> bool: ...


class CaseActivities:
    def __init__(
        self,
        directory: Directory,
        consultations: Consultations,
        journal: RecordSystem,
        *,
        forwarding: Forwarding | None = None,
    ) -> None:
        self._directory = directory
        self._consultations = consultations
        self._journal = journal
        # Asked per event, by the practice of its entries: the workflow forwards each entry
        # only when this activity answers `forward`, so what it answered replays as recorded.
        self._forwarding = forwarding

    @activity.defn
    async def check_directory(self, check: DirectoryCheck) -> DirectoryAnswer:
        """Refuse a clinician who takes no e-consultations, or a recipient who may not answer."""
        try:
            recipient = await self._directory.admit_recipient(
                check.patient_id, check.clinician_id, check.recipient_id, check.on_day
            )
        except RecipientRefusedError as refused:
            raise ApplicationError(
                str(refused), type=refused.refusal, non_retryable=True
            ) from refused
        return await self._answer(recipient)

    @activity.defn
    async def check_reassignment(self, check: ReassignmentCheck) -> DirectoryAnswer:
        """Refuse a new recipient outside the practice, or one who takes no e-consultations."""
        try:
            recipient = await self._directory.admit_reassignment(
                check.recipient_id, check.practice_id, check.on_day
            )
        except RecipientRefusedError as refused:
            raise ApplicationError(
                str(refused), type=refused.refusal, non_retryable=True
            ) from refused
        return await self._answer(recipient)

    async def _answer(self, recipient: DirectoryEntry) -> DirectoryAnswer:
        return DirectoryAnswer(
            recipient_id=recipient.id,
            practice_id=recipient.practice_id,
            reply_within_working_days=recipient.reply_within_working_days,
            closed_days=await self._directory.closed_days(recipient.practice_id),
        )

    @activity.defn
    async def record_consultation(self, record: ConsultationRecord) -> RecordResult:
        return RecordResult(applied=await self._consultations.save(record))

    @activity.defn
    async def record_event(self, event: CaseEvent) -> CaseEventResult:
        """The case row, the event's message and its notifications' outbox rows in one
        transaction, then its journal entries.

        Each write is idempotent by its key (revision, message id, entry key), so a retry
        after a crash between them completes what is missing and repeats nothing.
        """
        try:
            applied = await self._consultations.save_with(
                event.record, event.message, event.notifications
            )
        except UnknownAttachmentError as error:
            raise _refused(error) from error
        for entry in event.journal:
            await self._journal.write(entry)
        specialist = False
        if event.billed_clinician_id is not None:
            author = await self._directory.get(event.billed_clinician_id)
            specialist = author is not None and author.specialist_in_general_practice
        return CaseEventResult(
            applied=applied,
            forward=await self._forwards(event.journal),
            specialist_in_general_practice=specialist,
        )

    async def _forwards(self, journal: list[JournalEntryInput]) -> bool:
        if self._forwarding is None:
            return False
        for practice_id in {entry.practice_id for entry in journal}:
            if await self._forwarding.forwards(practice_id):
                return True
        return False

    @activity.defn
    async def store_message(self, message: MessageToStore) -> StoredMessage:
        try:
            return await self._consultations.add_message(message)
        except UnknownAttachmentError as error:
            raise _refused(error) from error


def _refused(error: UnknownAttachmentError) -> ApplicationError:
    """The workflow refuses the message (and its event) with this, without retrying."""
    return ApplicationError(str(error), type=Refusal.UNKNOWN_ATTACHMENT, non_retryable=True)
