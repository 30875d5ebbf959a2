"""The case-store writes of the 1.0 flow (workflows/v1), kept by name for its runs: the case
row alone, an event's writes, a message with attachments on its own, and the co-payment's
settlement. Delete with workflows/v1."""

from __future__ import annotations

from temporalio import activity

from activities.adapters import RecordSystem
from activities.case import Forwarding, refused
from domain.copayment import DEFAULT_TABLE, CopaymentTable, decide_copayment
from domain.effects import (
    CaseEvent,
    CaseEventResult,
    MessageToStore,
    RecordResult,
    SettleCopayment,
    StoredMessage,
)
from domain.models import ConsultationRecord, CopaymentOutcome
from store.case_writes import Consultations, UnknownAttachmentError
from store.charges import BilledClinician, Charges
from store.directory import Directory


class ActivitiesV1:
    def __init__(
        self,
        directory: Directory,
        consultations: Consultations,
        journal: RecordSystem,
        charges: Charges,
        *,
        forwarding: Forwarding | None = None,
        table: CopaymentTable = DEFAULT_TABLE,
    ) -> None:
        self._directory = directory
        self._consultations = consultations
        self._journal = journal
        self._charges = charges
        self._forwarding = forwarding
        self._table = table

    @activity.defn
    async def record_consultation(self, record: ConsultationRecord) -> RecordResult:
        return RecordResult(applied=await self._consultations.save(record))

    @activity.defn
    async def record_event(self, event: CaseEvent) -> CaseEventResult:
        """The case row, the event's message and its notifications' outbox rows in one
        transaction, then its journal entries (each idempotent by its key)."""
        try:
            applied = await self._consultations.save_with(
                event.record, event.message, event.notifications
            )
        except UnknownAttachmentError as error:
            raise refused(error) from error
        for entry in event.journal:
            await self._journal.write(entry)
        specialist = False
        if event.billed_clinician_id is not None:
            author = await self._directory.get(event.billed_clinician_id)
            specialist = author is not None and author.specialist_in_general_practice
        forward = False
        if self._forwarding is not None:
            for practice_id in {entry.practice_id for entry in event.journal}:
                forward = forward or await self._forwarding.forwards(practice_id)
        return CaseEventResult(
            applied=applied, forward=forward, specialist_in_general_practice=specialist
        )

    @activity.defn
    async def store_message(self, message: MessageToStore) -> StoredMessage:
        try:
            return await self._consultations.add_message(message)
        except UnknownAttachmentError as error:
            raise refused(error) from error

    @activity.defn
    async def settle_copayment(self, request: SettleCopayment) -> CopaymentOutcome:
        """Decide from the request alone and record the charge once per consultation."""
        outcome = decide_copayment(request, self._table)
        billed = BilledClinician(request.clinician_id, request.specialist_in_general_practice)
        return await self._charges.record_once(
            request.consultation_id, request.patient, outcome, billed
        )
