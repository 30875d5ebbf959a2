"""Read models for people: consultation detail, the clinician's inbox, the patient's list.

Lists use keyset pagination on the columns of their index, so a page boundary stays put
when consultations are added between two page requests.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import (
    CloseReason,
    CopaymentStatus,
    Representative,
    RepresentativeRelation,
    Status,
)
from store.attachments import AttachmentInfo, Attachments
from store.tables import Consultation, Message

# Never submitted: nothing has reached the clinician yet, so their inbox leaves these out.
UNSENT = (Status.DRAFT, Status.EXPIRED)


class ConsultationSummary(BaseModel):
    id: str
    status: Status
    patient_id: str
    clinician_id: str
    recipient_id: str
    practice_id: str
    created_at: datetime
    submitted_at: datetime | None
    reply_due_at: datetime | None
    overdue: bool
    closed_at: datetime | None
    close_reason: CloseReason | None
    copayment_status: CopaymentStatus
    copayment_tariff: str | None
    copayment_amount_nok: Decimal | None


class MessageView(BaseModel):
    id: str
    author_role: str
    author_id: str
    body: str
    attachments: list[AttachmentInfo]
    created_at: datetime
    representative: Representative | None = None


class ConsultationDetail(BaseModel):
    summary: ConsultationSummary
    messages: list[MessageView]


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
        return ConsultationDetail(
            summary=_summary(row),
            messages=[
                MessageView(
                    id=m.id,
                    author_role=m.author_role,
                    author_id=m.author_id,
                    body=m.body,
                    attachments=[infos[a] for a in m.attachment_ids if a in infos],
                    created_at=m.created_at,
                    representative=Representative(
                        id=m.representative_id,
                        relation=RepresentativeRelation(m.representative_relation),
                    )
                    if m.representative_id and m.representative_relation
                    else None,
                )
                for m in messages
            ],
        )

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
