"""Attachments: uploaded content kept in the case store, referenced by id and SHA-256."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pydantic import BaseModel, Field
from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from store.database import autocommit
from store.tables import Attachment


class AttachmentMeta(BaseModel):
    """What a party is shown about an attachment: neither its content nor who uploaded it."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    missing: bool = Field(
        default=False,
        description="The content was lost with a restored case store and cannot be fetched; "
        "the message still names the attachment and its SHA-256.",
    )


class AttachmentInfo(AttachmentMeta):
    """An attachment's metadata with its uploader and where it is bound (for checks)."""

    uploaded_by: str
    consultation_id: str | None = None
    message_id: str | None = None


class AttachmentContent(BaseModel):
    info: AttachmentInfo
    content: bytes


_ATTACHMENTS = cast(Table, Attachment.__table__)
# Metadata only: the content stays in the database.
_INFOS = select(
    *(
        _ATTACHMENTS.c[name]
        for name in (
            "id",
            "filename",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "consultation_id",
            "message_id",
            "missing",
        )
    )
).where(_ATTACHMENTS.c.id.in_(bindparam("ids", expanding=True)))


async def attachment_infos(
    connection: AsyncConnection, attachment_ids: list[str]
) -> dict[str, AttachmentInfo]:
    """Metadata of the given attachments, by id; one statement."""
    rows = await connection.execute(_INFOS, {"ids": attachment_ids})
    return {row.id: AttachmentInfo.model_validate(row._mapping) for row in rows}


class Attachments:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self,
        *,
        attachment_id: str,
        uploaded_by: str,
        filename: str,
        content_type: str,
        sha256: str,
        content: bytes,
    ) -> AttachmentInfo:
        """Store an upload; it stays unbound until a message redeems its claim check."""
        row = Attachment(
            id=attachment_id,
            uploaded_by=uploaded_by,
            filename=filename,
            content_type=content_type,
            size=len(content),
            sha256=sha256,
            content=content,
            created_at=datetime.now(UTC),
            missing=False,
        )
        info = AttachmentInfo.model_validate(row, from_attributes=True)
        async with self._sessions.begin() as session:
            session.add(row)
        return info

    async def infos(self, attachment_ids: list[str]) -> dict[str, AttachmentInfo]:
        """Metadata of the given attachments (content left in the database), by id."""
        if not attachment_ids:
            return {}
        async with autocommit(self._sessions) as connection:
            return await attachment_infos(connection, attachment_ids)

    async def unbound_of(
        self, uploaded_by: str, attachment_ids: list[str], message_id: str | None = None
    ) -> dict[str, str]:
        """sha256 by id of those attachments the uploader may still put into a message.

        Those already in `message_id` count as free for it: a retried command carries the
        message id of its first attempt, which may have been stored already.
        """
        return {
            info.id: info.sha256
            for info in (await self.infos(attachment_ids)).values()
            if info.uploaded_by == uploaded_by and info.message_id in (None, message_id)
        }

    async def get(self, attachment_id: str) -> AttachmentContent | None:
        async with self._sessions() as session:
            row = await session.get(Attachment, attachment_id)
            if row is None:
                return None
            info = AttachmentInfo.model_validate(row, from_attributes=True)
            return AttachmentContent(info=info, content=row.content)
