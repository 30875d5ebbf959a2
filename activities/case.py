"""Case-store activities: the directory check at start, case rows and messages."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.models import (
    ConsultationRecord,
    DirectoryAnswer,
    DirectoryCheck,
    MessageToStore,
    RecordResult,
    Refusal,
    StoredMessage,
)
from store.consultations import Consultations, UnknownAttachmentError
from store.directory import Directory

UNKNOWN_ATTACHMENT = "UnknownAttachment"


class CaseActivities:
    def __init__(self, directory: Directory, consultations: Consultations) -> None:
        self._directory = directory
        self._consultations = consultations

    @activity.defn
    async def check_directory(self, check: DirectoryCheck) -> DirectoryAnswer:
        """Refuse a clinician who takes no e-consultations, or a recipient who may not answer."""
        clinician = await self._directory.get(check.clinician_id)
        if clinician is None or not clinician.accepts_econsultations:
            raise ApplicationError(
                "clinician does not accept e-consultations",
                type=Refusal.CLINICIAN_UNAVAILABLE,
                non_retryable=True,
            )
        substitute = clinician.active_substitute(check.on_day)
        allowed = {clinician.id} | ({substitute.clinician_id} if substitute else set())
        if check.recipient_id not in allowed:
            raise ApplicationError(
                "recipient is neither the clinician nor their active substitute",
                type=Refusal.RECIPIENT_NOT_ALLOWED,
                non_retryable=True,
            )
        recipient = clinician
        if check.recipient_id != clinician.id:
            found = await self._directory.get(check.recipient_id)
            if found is None or not found.accepts_econsultations:
                raise ApplicationError(
                    "substitute does not accept e-consultations",
                    type=Refusal.CLINICIAN_UNAVAILABLE,
                    non_retryable=True,
                )
            recipient = found
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
    async def store_message(self, message: MessageToStore) -> StoredMessage:
        try:
            return await self._consultations.add_message(message)
        except UnknownAttachmentError as error:
            raise ApplicationError(
                str(error), type=UNKNOWN_ATTACHMENT, non_retryable=True
            ) from error
