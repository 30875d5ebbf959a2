"""Read models for people: consultation detail and thread, the clinician's inbox, the
patient's list.

Lists use keyset pagination on the columns of their index, so a page boundary stays put
when consultations are added between two page requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql.expression import Selectable

from domain.models import ConsultationFacts, Status
from domain.parties import RepresentativeRef
from store.access import ACCESS_LOG_TABLE, Reader, record_access
from store.attachments import AttachmentInfo, AttachmentMeta, attachment_infos
from store.database import autocommit
from store.tables import Consultation, Message, UtcDateTime

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
    representative: RepresentativeRef | None = None

    @classmethod
    def of(cls, values: dict[str, Any], attachments: dict[str, AttachmentInfo]) -> MessageView:
        view = cls.model_validate(values)
        # Only what a party is shown: the uploader and the binding stay behind.
        view.attachments = [
            AttachmentMeta.model_validate(attachments[a].model_dump())
            for a in values["attachment_ids"]
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


_CASES = cast(Table, Consultation.__table__)
_MESSAGES = cast(Table, Message.__table__)
_THREAD_COLUMNS = ("id", "author_role", "author_id", "body", "attachment_ids", "created_at")
_REPRESENTATIVE_COLUMNS = ("representative_id", "representative_relation")
# Statements built once: SQLAlchemy then reuses their cache keys and compiled SQL.
_SUMMARY = select(_CASES).where(_CASES.c.id == bindparam("id"))
# The case and its thread in one statement, so one snapshot: a row per message (the case's
# columns repeated), or one row with null message columns for a case without messages.
_DETAIL = (
    select(
        _CASES,
        *(_MESSAGES.c[name].label(f"message_{name}") for name in _THREAD_COLUMNS),
        *(_MESSAGES.c[name].label(f"message_{name}") for name in _REPRESENTATIVE_COLUMNS),
    )
    .outerjoin(_MESSAGES, _MESSAGES.c.consultation_id == _CASES.c.id)
    .where(_CASES.c.id == bindparam("id"))
    .order_by(_MESSAGES.c.created_at, _MESSAGES.c.id)
)
# Who reads, as what, and when: the access log entry's values beside the case's id.
_READER = (
    bindparam("actor_id", type_=String()),
    bindparam("role", type_=String()),
    bindparam("action", type_=String()),
    bindparam("at", type_=UtcDateTime()),
)


def _logged(read: Select[Any], entry: Selectable) -> Select[Any]:
    """PostgreSQL: `read` and the access log `entry` in one statement (a data-modifying
    WITH), so one round trip and one transaction."""
    return read.add_cte(
        insert(ACCESS_LOG_TABLE)
        .from_select(["consultation_id", "actor_id", "role", "action", "at"], entry)
        .cte("logged")
    )


# The entry is written only if the case exists.
_DETAIL_LOGGED = _logged(
    _DETAIL, select(_CASES.c.id, *_READER).where(_CASES.c.id == bindparam("id"))
)

# A command's answer: the case's fields come from the workflow's answer, the thread from here.
_THREAD = (
    select(
        *(_MESSAGES.c[name].label(f"message_{name}") for name in _THREAD_COLUMNS),
        *(_MESSAGES.c[name].label(f"message_{name}") for name in _REPRESENTATIVE_COLUMNS),
    )
    .where(_MESSAGES.c.consultation_id == bindparam("id"))
    .order_by(_MESSAGES.c.created_at, _MESSAGES.c.id)
)
_THREAD_LOGGED = _logged(_THREAD, select(bindparam("id", type_=String()), *_READER))


def _summary(row: Row[Any]) -> ConsultationSummary:
    values = row._mapping
    return ConsultationSummary.model_validate(
        {**values, "copayment": Consultation.copayment_of(values)}
    )


def _message(values: dict[str, Any]) -> dict[str, Any]:
    return {
        **{name: values[f"message_{name}"] for name in _THREAD_COLUMNS},
        "representative": Message.representative_of(
            values["message_representative_id"], values["message_representative_relation"]
        ),
    }


async def _thread_of(connection: AsyncConnection, rows: list[dict[str, Any]]) -> list[MessageView]:
    """The messages of rows read with their `message_` columns, attachments in message order."""
    messages = [_message(row) for row in rows if row["message_id"] is not None]
    attachment_ids = [a for m in messages for a in m["attachment_ids"]]
    infos = await attachment_infos(connection, attachment_ids) if attachment_ids else {}
    return [MessageView.of(m, infos) for m in messages]


class ConsultationQueries:
    """Each read is one statement on an autocommit connection (no BEGIN or ROLLBACK), or a
    few on one connection where each stands alone."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def summary(self, consultation_id: str) -> ConsultationSummary | None:
        async with autocommit(self._sessions) as connection:
            row = (await connection.execute(_SUMMARY, {"id": consultation_id})).first()
        return _summary(row) if row else None

    async def detail(
        self, consultation_id: str, read_by: Reader | None = None
    ) -> ConsultationDetail | None:
        """The case row and its thread, oldest message first, attachments in message order.

        With `read_by` the read is written to the access log, in the same statement on
        PostgreSQL (else right after it, on the same connection); a case not found is not
        logged.
        """
        async with autocommit(self._sessions) as connection:
            in_one = read_by is not None and connection.dialect.name == "postgresql"
            parameters: dict[str, Any] = {"id": consultation_id}
            if in_one and read_by is not None:
                parameters.update(read_by.model_dump(), at=datetime.now(UTC))
            read = await connection.execute(_DETAIL_LOGGED if in_one else _DETAIL, parameters)
            rows = [dict(row._mapping) for row in read]
            if not rows:
                return None
            if read_by is not None and not in_one:
                await record_access(connection, consultation_id, read_by)
            messages = await _thread_of(connection, rows)
        case = rows[0]
        detail = ConsultationDetail.model_validate(
            {**case, "copayment": Consultation.copayment_of(case)}
        )
        detail.messages = messages
        return detail

    async def thread(self, consultation_id: str, read_by: Reader) -> list[MessageView]:
        """The thread of a case known to exist, oldest message first, attachments in message
        order; the read is written to the access log in the same statement on PostgreSQL, in
        the same transaction elsewhere: no read without its entry."""
        parameters: dict[str, Any] = {"id": consultation_id}
        if self._sessions.kw["bind"].dialect.name == "postgresql":
            parameters.update(read_by.model_dump(), at=datetime.now(UTC))
            async with autocommit(self._sessions) as connection:
                read = await connection.execute(_THREAD_LOGGED, parameters)
                return await _thread_of(connection, [dict(row._mapping) for row in read])
        async with self._sessions.begin() as session:
            connection = await session.connection()
            read = await connection.execute(_THREAD, parameters)
            rows = [dict(row._mapping) for row in read]
            await record_access(connection, consultation_id, read_by)
            return await _thread_of(connection, rows)

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
        cases = _CASES.c
        query = select(_CASES).where(cases.recipient_id == recipient_id)
        if status is not None:
            query = query.where(cases.status == status.value)
        else:
            query = query.where(cases.status.not_in([s.value for s in UNSENT]))
        if overdue is not None:
            query = query.where(cases.overdue.is_(overdue))
        if after is not None:
            query = query.where(_after_in_inbox(after))
        query = query.order_by(cases.reply_due_at.asc().nulls_last(), cases.id.asc()).limit(limit)
        return await self._page(query)

    async def of_patient(
        self, patient_id: str, *, limit: int, after: PatientListKey | None
    ) -> list[ConsultationSummary]:
        """The patient's consultations, newest first."""
        cases = _CASES.c
        query = select(_CASES).where(cases.patient_id == patient_id)
        if after is not None:
            query = query.where(
                or_(
                    cases.created_at < after.created_at,
                    and_(cases.created_at == after.created_at, cases.id < after.id),
                )
            )
        query = query.order_by(cases.created_at.desc(), cases.id.desc()).limit(limit)
        return await self._page(query)

    async def _page(self, query: Select[Any]) -> list[ConsultationSummary]:
        async with autocommit(self._sessions) as connection:
            return [_summary(row) for row in await connection.execute(query)]


def _after_in_inbox(key: InboxKey) -> ColumnElement[bool]:
    cases = _CASES.c
    if key.reply_due_at is None:
        return and_(cases.reply_due_at.is_(None), cases.id > key.id)
    return or_(
        cases.reply_due_at > key.reply_due_at,
        and_(cases.reply_due_at == key.reply_due_at, cases.id > key.id),
        cases.reply_due_at.is_(None),
    )


async def database_answers(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Raise unless the case store answers a trivial query (readiness)."""
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
