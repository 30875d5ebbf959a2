"""The case store's writes: consultations and their messages, as the activities record them.

People read them through the read models in store/case_reads.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.effects import MessageToStore, NotificationInput, StoredMessage
from domain.events import Event
from domain.models import ConsultationRecord, CopaymentOutcome
from store import charges, journal, outbox
from store.charges import BilledClinician
from store.database import autocommit
from store.idempotent import insert_once, upsert_newer
from store.tables import Attachment, Consultation, Message


class UnknownAttachmentError(LookupError):
    """An attachment id that was never uploaded, or belongs to another consultation."""


class Consultations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(self, record: ConsultationRecord) -> bool:
        """Write the workflow's view of a case; a write older than the stored one is ignored."""
        async with autocommit(self._sessions) as session:
            return await upsert_newer(
                session, Consultation, self._row(record), ["id"], newer="revision"
            )

    @staticmethod
    def _row(record: ConsultationRecord) -> dict[str, object]:
        values = record.model_dump(exclude={"consultation_id", "copayment"}, mode="python")
        values.update(
            id=record.consultation_id,
            status=record.status.value,
            close_reason=record.close_reason.value if record.close_reason else None,
            **Consultation.copayment_columns(record.copayment),
        )
        return values

    async def save_with(
        self,
        record: ConsultationRecord,
        message: MessageToStore | None,
        notifications: Sequence[NotificationInput] = (),
    ) -> bool:
        """`save` and `add_message` in one transaction, with the event's notification rows (a
        transactional outbox): the message never shows without the case row that counts it, a
        refused message leaves the row as it was, and a notification is queued exactly when
        its event is recorded."""
        if message is None and not notifications:
            return await self.save(record)
        async with self._sessions.begin() as session:
            applied = await upsert_newer(
                session, Consultation, self._row(record), ["id"], newer="revision"
            )
            if message is not None:
                await self._add_message(session, message)
            for notification in notifications:
                await outbox.queue(session, notification)
        return applied

    async def commit(
        self, event: Event, outcome: CopaymentOutcome | None = None
    ) -> tuple[bool, CopaymentOutcome | None]:
        """Everything an event writes, in one transaction: the case row (unless the stored one
        is as new), its message with its attachments bound, its journal entries, its outbox
        rows, and a settlement's charge, `outcome` (the first one recorded stands, and is answered).

        A refused message (UnknownAttachmentError) leaves nothing written; each write is
        idempotent by its key, so a retry repeats nothing.
        """
        record = event.record
        async with self._sessions.begin() as session:
            applied = await upsert_newer(
                session, Consultation, self._row(record), ["id"], newer="revision"
            )
            if event.message is not None:
                await self._add_message(session, event.message)
            for entry in event.journal:
                await journal.insert(session, entry)
            for notification in event.notifications:
                await outbox.queue(session, notification)
            charged = None
            if event.settlement is not None and outcome is not None:
                settlement = event.settlement
                billed = BilledClinician(
                    settlement.clinician_id, settlement.specialist_in_general_practice
                )
                charged = await charges.record(
                    session, record.consultation_id, settlement.patient, outcome, billed
                )
        return applied, charged

    async def add_message(self, message: MessageToStore) -> StoredMessage:
        """Store a message once, and bind its attachments to it (claim checks redeemed)."""
        async with self._sessions.begin() as session:
            return await self._add_message(session, message)

    @classmethod
    async def _add_message(cls, session: AsyncSession, message: MessageToStore) -> StoredMessage:
        attachment_ids = [a.id for a in message.content.attachments]
        inserted = await insert_once(
            session,
            Message,
            {
                "id": message.message_id,
                "consultation_id": message.consultation_id,
                "author_role": message.author_role.value,
                "author_id": message.author_id,
                "body": message.content.body,
                "attachment_ids": attachment_ids,
                "created_at": message.created_at,
                **Message.representative_columns(message.representative),
            },
            ["id"],
        )
        if inserted:
            if attachment_ids:
                await cls._bind_attachments(session, message, attachment_ids)
            return StoredMessage(message_id=message.message_id, created_at=message.created_at)
        stored = await session.get(Message, message.message_id)
        assert stored is not None
        return StoredMessage(message_id=stored.id, created_at=stored.created_at)

    @staticmethod
    async def _bind_attachments(
        session: AsyncSession, message: MessageToStore, attachment_ids: list[str]
    ) -> None:
        result = await session.execute(
            update(Attachment)
            .where(
                Attachment.id.in_(attachment_ids),
                or_(
                    Attachment.consultation_id.is_(None),
                    Attachment.consultation_id == message.consultation_id,
                ),
                Attachment.message_id.is_(None),
            )
            .values(consultation_id=message.consultation_id, message_id=message.message_id)
            .returning(Attachment.id)
        )
        if len(result.all()) != len(set(attachment_ids)):
            raise UnknownAttachmentError(f"attachments not available: {attachment_ids}")
