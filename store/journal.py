"""The journal kept in the case store: entries written once, with the record system's answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.effects import JournalEntryInput, JournalEntryKind
from domain.models import Role
from store.database import autocommit
from store.idempotent import insert_once
from store.tables import JournalEntry


@dataclass(frozen=True)
class JournalRow:
    entry: JournalEntryInput
    external_status: int | None
    external_id: str | None


async def insert(session: AsyncSession | AsyncConnection, entry: JournalEntryInput) -> bool:
    """Write the entry once (by its key), in the caller's transaction."""
    values = entry.model_dump(mode="python", exclude={"representative"})
    values.update(
        kind=entry.kind.value,
        author_role=entry.author_role.value,
        written_at=datetime.now(UTC),
        # Nested in the entry, flat in the table (as on messages).
        **JournalEntry.representative_columns(entry.representative),
    )
    return await insert_once(session, JournalEntry, values, ["entry_key"])


class JournalTable:
    """Default record-system adapter: the journal lives in the case store."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def write(self, entry: JournalEntryInput) -> str:
        async with autocommit(self._sessions) as session:
            await insert(session, entry)
        # The entry key is unique and stable, so it is the record reference (no re-read).
        return f"journal:{entry.entry_key}"

    async def read(self, entry_key: str) -> JournalRow:
        async with self._sessions() as session:
            row = await session.scalar(
                select(JournalEntry).where(JournalEntry.entry_key == entry_key)
            )
            assert row is not None, "only journaled entries are forwarded"
            return JournalRow(
                entry=JournalEntryInput.model_validate(row, from_attributes=True),
                external_status=row.external_status,
                external_id=row.external_id,
            )

    async def latest_message_before(self, entry_key: str, author_role: Role) -> str | None:
        """The key of the latest message by `author_role` in the entry's consultation journaled
        before it: by the time it happened, then by the order written (a restore may write an
        entry after later ones, with the time it happened)."""
        this = aliased(JournalEntry)
        earlier = or_(
            JournalEntry.occurred_at < this.occurred_at,
            and_(JournalEntry.occurred_at == this.occurred_at, JournalEntry.id < this.id),
        )
        async with self._sessions() as session:
            return await session.scalar(
                select(JournalEntry.entry_key)
                .join(this, this.consultation_id == JournalEntry.consultation_id)
                .where(
                    this.entry_key == entry_key,
                    earlier,
                    JournalEntry.kind == JournalEntryKind.MESSAGE.value,
                    JournalEntry.author_role == author_role.value,
                )
                .order_by(JournalEntry.occurred_at.desc(), JournalEntry.id.desc())
                .limit(1)
            )

    async def mark_external(self, entry_key: str, status: int, external_id: str | None) -> None:
        """Keep the external record system's answer (and its resource id) with the entry."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(JournalEntry)
                .where(JournalEntry.entry_key == entry_key)
                .values(
                    external_status=status, external_id=external_id, external_at=datetime.now(UTC)
                )
            )
