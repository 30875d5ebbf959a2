"""Read models for people: consultation detail, the clinician's inbox, the patient's list.

Lists use keyset pagination on the columns of their index, so a page boundary stays put
when consultations are added between two page requests.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import ColumnElement, Select, and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import ConsultationFacts, Representative, Status
from store.attachments import AttachmentInfo, AttachmentMeta, Attachments
from store.tables import Consultation, Message

# Never submitted: nothing has reached the clinician yet, so their inbox leaves these out.
UNSENT = (Status.DRAFT, Status.EXPIRED)


class ConsultationSummary(ConsultationFacts):
    """A consultation as people read it (lists, the detail, command answers): its stored row."""

    id: str
    patient_id: str
    practice_id: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def can_patient_reply(self) -> bool:
        return self.status.lets_patient_reply


class MessageView(BaseModel):
    """A message of the thread as its parties read it."""

    # Every field is always sent (null where empty): schemas list them all as required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    author_role: str
    author_id: str
    body: str
    attachments: list[AttachmentMeta] = []
    created_at: datetime
    representative: Representative | None = None

    @classmethod
    def of(cls, row: Message, attachments: dict[str, AttachmentInfo]) -> MessageView:
        view = cls.model_validate(row, from_attributes=True)
        # Only what a party is shown: the uploader and the binding stay behind.
        view.attachments = [
            AttachmentMeta.model_validate(attachments[a].model_dump())
            for a in row.attachment_ids
            if a in attachments
        ]
        return view


class ConsultationDetail(ConsultationSummary):
    """The summary with its thread, oldest message first."""

    messages: list[MessageView] = []


class InboxKey(BaseModel):
    """Position in the clinician's inbox: deadline (nulls last), then id."""

    reply_due_at: datetime | None
    id: str


class PatientListKey(BaseModel):
    """Position in the patient's list: newest first, then id descending."""

    created_at: datetime
    id: str


def _summary(row: Consultation) -> ConsultationSummary:
    return ConsultationSummary.model_validate(row, from_attributes=True)


class ConsultationQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._attachments = Attachments(sessions)

    async def summary(self, consultation_id: str) -> ConsultationSummary | None:
        async with self._sessions() as session:
            row = await session.get(Consultation, consultation_id)
            return _summary(row) if row else None

    async def detail(self, consultation_id: str) -> ConsultationDetail | None:
        """The case row and its thread, oldest message first, attachments in message order."""
        async with self._sessions() as session:
            row = await session.get(Consultation, consultation_id)
            if row is None:
                return None
            messages = list(
                await session.scalars(
                    select(Message)
                    .where(Message.consultation_id == consultation_id)
                    .order_by(Message.created_at, Message.id)
                )
            )
        infos = await self._attachments.infos(
            [attachment_id for m in messages for attachment_id in m.attachment_ids]
        )
        detail = ConsultationDetail.model_validate(row, from_attributes=True)
        detail.messages = [MessageView.of(m, infos) for m in messages]
        return detail

    async def inbox(
        self,
        recipient_id: str,
        *,
        status: Status | None,
        overdue: bool | None,
        limit: int,
        after: InboxKey | None,
    ) -> list[ConsultationSummary]:
        """Consultations addressed to `recipient_id`, earliest deadline first, no deadline last."""
        query = select(Consultation).where(Consultation.recipient_id == recipient_id)
        if status is not None:
            query = query.where(Consultation.status == status.value)
        else:
            query = query.where(Consultation.status.not_in([s.value for s in UNSENT]))
        if overdue is not None:
            query = query.where(Consultation.overdue.is_(overdue))
        if after is not None:
            query = query.where(_after_in_inbox(after))
        query = query.order_by(
            Consultation.reply_due_at.asc().nulls_last(), Consultation.id.asc()
        ).limit(limit)
        return await self._page(query)

    async def of_patient(
        self, patient_id: str, *, limit: int, after: PatientListKey | None
    ) -> list[ConsultationSummary]:
        """The patient's consultations, newest first."""
        query = select(Consultation).where(Consultation.patient_id == patient_id)
        if after is not None:
            query = query.where(
                or_(
                    Consultation.created_at < after.created_at,
                    and_(Consultation.created_at == after.created_at, Consultation.id < after.id),
                )
            )
        query = query.order_by(Consultation.created_at.desc(), Consultation.id.desc()).limit(limit)
        return await self._page(query)

    async def _page(self, query: Select[Consultation]) -> list[ConsultationSummary]:
        async with self._sessions() as session:
            return [_summary(row) for row in await session.scalars(query)]


def _after_in_inbox(key: InboxKey) -> ColumnElement[bool]:
    if key.reply_due_at is None:
        return and_(Consultation.reply_due_at.is_(None), Consultation.id > key.id)
    return or_(
        Consultation.reply_due_at > key.reply_due_at,
        and_(Consultation.reply_due_at == key.reply_due_at, Consultation.id > key.id),
        Consultation.reply_due_at.is_(None),
    )


async def database_answers(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Raise unless the case store answers a trivial query (readiness)."""
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
