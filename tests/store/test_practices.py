"""Practice records, and the decline text the workflow asks for, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.case import CaseActivities
from activities.endpoints import PracticeEndpoints
from activities.practices import PracticeActivities
from dev.harness.databases import alembic
from domain.practices import (
    DEFAULT_DECLINE_MESSAGE,
    DeclineMessage,
    PracticeCalendar,
    PracticeQuestion,
)
from store.case_writes import Consultations
from store.database import create_engine, create_session_factory
from store.directory import Directory
from store.practices import Practice, PracticeRecordSystem, Practices, RecordSystemAuth
from tests.store.support import NOW, database_at

BEFORE_AUTH = "0015_practice_accepts"
# A bound short enough for a test to wait out.
FRESH_FOR = 0.5
RECORD_SYSTEM = PracticeRecordSystem(
    fhir_base_url="https://epj.example/fhir",
    token_url="https://epj.example/token",
    client_id="econsult",
    client_secret_ref="epj",
)


def _practice_id() -> str:
    return f"practice-{uuid.uuid4().hex[:10]}"


async def _asked(store: async_sessionmaker[AsyncSession], practice_id: str) -> DeclineMessage:
    activities = PracticeActivities(Practices(store))
    return await ActivityEnvironment().run(
        activities.decline_message, PracticeQuestion(practice_id=practice_id)
    )


async def test_a_put_replaces_the_whole_record(store: async_sessionmaker[AsyncSession]) -> None:
    practices, practice_id = Practices(store), _practice_id()
    first = Practice(practice_id=practice_id, name="Legesenteret", decline_message="Ring oss.")
    await practices.put(first)
    assert await practices.get(practice_id) == first

    renamed = Practice(practice_id=practice_id, name="Legesenteret Sentrum")
    await practices.put(renamed)

    assert await practices.get(practice_id) == renamed
    assert await practices.get(_practice_id()) is None


async def test_the_closed_days_of_a_put_are_what_the_workflow_reads_next(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practices, practice_id = Practices(store), _practice_id()
    calendar = CaseActivities(Directory(store), Consultations(store)).practice_calendar
    question = PracticeQuestion(practice_id=practice_id)
    closed = [date(2027, 12, 31), date(2027, 12, 27)]
    await practices.put(Practice(practice_id=practice_id, name="Legesenteret", closed_days=closed))

    read = await ActivityEnvironment().run(calendar, question)
    assert read == PracticeCalendar(closed_days=sorted(closed))

    await practices.put(Practice(practice_id=practice_id, name="Legesenteret"))

    assert await ActivityEnvironment().run(calendar, question) == PracticeCalendar()


async def test_a_practice_without_a_record_declines_with_the_default_text(
    store: async_sessionmaker[AsyncSession],
) -> None:
    assert await _asked(store, _practice_id()) == DeclineMessage(text=DEFAULT_DECLINE_MESSAGE)


async def test_a_practice_without_a_decline_text_declines_with_the_default_text(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practice_id = _practice_id()
    await Practices(store).put(Practice(practice_id=practice_id, name="Legesenteret"))

    assert await _asked(store, practice_id) == DeclineMessage(text=DEFAULT_DECLINE_MESSAGE)


async def test_a_practice_declines_with_its_own_text(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practice_id, own = _practice_id(), "Dette passer best for en time. Ring 22 00 00 00."
    await Practices(store).put(
        Practice(practice_id=practice_id, name="Legesenteret", decline_message=own)
    )

    assert await _asked(store, practice_id) == DeclineMessage(text=own, from_practice=True)


def test_the_default_text_tells_the_patient_in_norwegian_to_book_an_appointment() -> None:
    assert "egner seg ikke for e-konsultasjon" in DEFAULT_DECLINE_MESSAGE
    assert "Bestill time" in DEFAULT_DECLINE_MESSAGE


async def test_a_helseid_record_system_is_kept_with_its_auth_key_reference_and_dpop(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practices, practice_id = Practices(store), _practice_id()
    own = PracticeRecordSystem(
        fhir_base_url="https://epj.example/fhir",
        token_url="https://helseid-sts.test.nhn.no/connect/token",
        client_id="econsult",
        auth=RecordSystemAuth.PRIVATE_KEY_JWT,
        client_assertion_key_ref="helseid-key",
        dpop=True,
    )
    practice = Practice(practice_id=practice_id, name="Legesenteret", record_system=own)

    await practices.put(practice)

    assert await practices.get(practice_id) == practice


@pytest.fixture(params=["sqlite", "postgres"])
def database_before_auth(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store at the revision before a record system's auth was kept."""
    yield from database_at(request, tmp_path, BEFORE_AUTH, "econsult_before_auth")


@pytest.mark.embedded_postgres
async def test_a_record_system_kept_before_auth_existed_reads_as_basic_without_dpop(
    database_before_auth: str,
) -> None:
    url = database_before_auth
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO practices (practice_id, name, updated_at, fhir_base_url, "
                    "fhir_token_url, fhir_client_id, fhir_client_secret_ref) VALUES ('old', "
                    "'Legesenteret', :at, 'https://epj.example/fhir', "
                    "'https://epj.example/token', 'econsult', 'epj-client')"
                ),
                {"at": NOW - timedelta(days=1)},
            )
    finally:
        await engine.dispose()

    alembic(url, "upgrade", "head")
    engine = create_engine(url)
    try:
        practice = await Practices(create_session_factory(engine)).get("old")
    finally:
        await engine.dispose()

    assert practice is not None and practice.record_system is not None
    own = practice.record_system
    assert (own.auth, own.client_secret_ref, own.client_assertion_key_ref, own.dpop) == (
        RecordSystemAuth.CLIENT_SECRET_BASIC,
        "epj-client",
        None,
        False,
    )
    alembic(url, "downgrade", BEFORE_AUTH)


async def test_a_practices_new_endpoint_reaches_deliveries_within_the_freshness_bound(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practices, practice_id = Practices(store), _practice_id()
    await practices.put(Practice(practice_id=practice_id, name="Legesenteret"))
    endpoints = PracticeEndpoints(practices, None, fresh_for=FRESH_FOR)
    assert not await endpoints.has_record_system(practice_id)

    await practices.put(
        Practice(practice_id=practice_id, name="Legesenteret", record_system=RECORD_SYSTEM)
    )
    # Kept: read once per bound, not per delivery.
    assert not await endpoints.has_record_system(practice_id)
    await asyncio.sleep(FRESH_FOR)
    assert await endpoints.has_record_system(practice_id)


async def test_a_failed_delivery_has_the_next_one_read_the_practice_afresh(
    store: async_sessionmaker[AsyncSession],
) -> None:
    practices, practice_id = Practices(store), _practice_id()
    await practices.put(Practice(practice_id=practice_id, name="Legesenteret"))
    endpoints = PracticeEndpoints(practices, None)
    assert not await endpoints.has_record_system(practice_id)
    await practices.put(
        Practice(practice_id=practice_id, name="Legesenteret", record_system=RECORD_SYSTEM)
    )

    endpoints.forget(practice_id)

    assert await endpoints.has_record_system(practice_id)
