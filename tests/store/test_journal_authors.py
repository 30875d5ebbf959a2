"""A journal entry keeps who really wrote it and to whom, for the record system to read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.effects import JournalEntryInput
from domain.models import Role
from domain.parties import RepresentativeRef, RepresentativeRelation
from store.journal import JournalTable
from tests.support import journal_entry


async def test_the_representative_practice_and_recipient_are_read_back_as_written(
    store: async_sessionmaker[AsyncSession],
) -> None:
    journal = JournalTable(store)
    entry = journal_entry(
        author_id="02026512345",
        representative=RepresentativeRef(
            id="02026512345", relation=RepresentativeRelation.POWER_OF_ATTORNEY
        ),
        practice_id="practice-1",
        recipient_id="hpr-1",
    )

    await journal.write(entry)

    assert (await journal.read(entry.entry_key)).entry == entry


async def test_an_entry_without_them_reads_back_without_them(
    store: async_sessionmaker[AsyncSession],
) -> None:
    journal = JournalTable(store)
    entry = journal_entry()

    await journal.write(entry)

    read = (await journal.read(entry.entry_key)).entry
    assert read == entry
    assert (read.representative, read.practice_id, read.recipient_id) == (None, None, None)


async def test_the_latest_message_before_an_entry_is_found_by_author_role_and_time(
    store: async_sessionmaker[AsyncSession],
) -> None:
    journal = JournalTable(store)
    case = f"case-{uuid.uuid4().hex}"

    def at(minute: int, role: Role) -> JournalEntryInput:
        when = datetime(2027, 3, 24, 8, minute, tzinfo=UTC)
        return journal_entry(consultation_id=case, author_role=role, occurred_at=when)

    question, reply, follow_up = at(0, Role.PATIENT), at(1, Role.CLINICIAN), at(2, Role.PATIENT)
    # Another consultation's reply, between the two: never linked.
    elsewhere = journal_entry(
        author_role=Role.CLINICIAN, occurred_at=datetime(2027, 3, 24, 8, 1, 30, tzinfo=UTC)
    )
    # Written out of order, as a restore may: the time it happened decides.
    for entry in (follow_up, elsewhere, question, reply):
        await journal.write(entry)

    assert await journal.latest_message_before(follow_up.entry_key, Role.CLINICIAN) == (
        reply.entry_key
    )
    assert await journal.latest_message_before(reply.entry_key, Role.PATIENT) == (
        question.entry_key
    )
    assert await journal.latest_message_before(question.entry_key, Role.CLINICIAN) is None
