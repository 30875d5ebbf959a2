"""The /metrics figures kept by triggers equal a full count, on SQLite and PostgreSQL: after
inserts, status changes, upserts that change nothing, stale upserts the revision guard
ignores, concurrent writers, many-row statements, and for rows written before the ledger."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import delete, func, select, update

from dev.harness.databases import PostgresServer, alembic, libpq_url
from domain.effects import Audience, NotificationEvent, NotificationInput
from domain.models import ConsultationRecord, Status
from store.case_writes import Consultations
from store.database import create_engine, create_session_factory
from store.operations import OperationalFigures, operational_figures
from store.outbox import Outbox
from store.tables import Consultation, FigureCount, Notification
from tests.store import support
from tests.store.support import NOW, Sessions, database_at

BEFORE_LEDGER = "0005_command_keys"
FOLD_EVERY = 256  # as in 0006_figure_counts
FINAL = [status.value for status in Status if status.is_final]


async def counted_afresh(store: Sessions) -> OperationalFigures:
    """The figures by full scans, as a scrape counted them before the ledger."""
    async with store() as session:
        rows = await session.execute(
            select(Consultation.status, func.count()).group_by(Consultation.status)
        )
        by_status = {Status(status): int(n) for status, n in rows.tuples()}
        overdue = await session.scalar(
            select(func.count())
            .select_from(Consultation)
            .where(Consultation.overdue.is_(True), Consultation.status.not_in(FINAL))
        )
        breaches = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.event == NotificationEvent.OVERDUE.value,
                Notification.audience == Audience.PRACTICE.value,
            )
        )
        undelivered = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None))
        )
    return OperationalFigures(
        by_status={status: by_status.get(status, 0) for status in Status},
        overdue=int(overdue or 0),
        deadline_breaches=int(breaches or 0),
        notifications_undelivered=int(undelivered or 0),
    )


async def ledger_rows(store: Sessions) -> int:
    async with store() as session:
        return int(await session.scalar(select(func.count()).select_from(FigureCount)) or 0)


def record(
    consultation_id: str, revision: int, status: Status, overdue: bool = False
) -> ConsultationRecord:
    """A case due a week after it was created."""
    return support.record(
        consultation_id, revision, status, reply_due_at=NOW + timedelta(days=7), overdue=overdue
    )


def notice(consultation_id: str, event: NotificationEvent, audience: Audience) -> NotificationInput:
    return NotificationInput(
        notification_key=f"{consultation_id}:{event.value}:{audience.value}",
        consultation_id=consultation_id,
        audience=audience,
        event=event,
        occurred_at=NOW,
    )


def moved(before: OperationalFigures, after: OperationalFigures) -> dict[str, int]:
    """What changed between two readings, figures that did not move left out."""
    changes = {
        status.value: after.by_status[status] - before.by_status[status] for status in Status
    }
    changes.update(
        overdue=after.overdue - before.overdue,
        deadline_breaches=after.deadline_breaches - before.deadline_breaches,
        notifications_undelivered=after.notifications_undelivered
        - before.notifications_undelivered,
    )
    return {name: n for name, n in changes.items() if n}


async def test_figures_equal_a_full_count_after_status_changes_unchanged_and_stale_upserts(
    store: Sessions,
) -> None:
    consultations, outbox = Consultations(store), Outbox(store)
    before = await operational_figures(store)
    ids = [uuid.uuid4().hex for _ in Status]

    for consultation_id, status in zip(ids, Status, strict=True):
        assert await consultations.save(record(consultation_id, 1, Status.DRAFT))
        assert await consultations.save(record(consultation_id, 2, status, overdue=True))
        # The same write retried, and the same state at a newer revision: no figure moves.
        assert not await consultations.save(record(consultation_id, 2, status, overdue=True))
        assert await consultations.save(record(consultation_id, 3, status, overdue=True))
        # A stale write with another status: ignored by the revision guard, counted nowhere.
        assert not await consultations.save(record(consultation_id, 1, Status.AWAITING_PATIENT))
        breach = notice(consultation_id, NotificationEvent.OVERDUE, Audience.PRACTICE)
        late = notice(consultation_id, NotificationEvent.ANSWER_LATE, Audience.PATIENT)
        for notification in (breach, late, breach):
            await outbox.enqueue(notification)
        await outbox.count_attempt(breach.notification_key)
        await outbox.mark_sent(breach.notification_key)
        await outbox.mark_failed(late.notification_key, 410)
    after = await operational_figures(store)

    assert after == await counted_afresh(store)
    open_statuses = len([status for status in Status if not status.is_final])
    assert moved(before, after) == {
        **{status.value: 1 for status in Status},
        "overdue": open_statuses,  # overdue in a final status is not overdue any more
        "deadline_breaches": len(ids),
        "notifications_undelivered": len(ids),  # the refused ones stay undelivered
    }

    # Many rows in one statement, then rows deleted.
    async with store.begin() as session:
        await session.execute(
            update(Consultation)
            .where(Consultation.id.in_(ids))
            .values(status=Status.CLOSED.value, overdue=False)
        )
    assert await operational_figures(store) == await counted_afresh(store)
    async with store.begin() as session:
        await session.execute(delete(Notification).where(Notification.consultation_id.in_(ids)))
        await session.execute(delete(Consultation).where(Consultation.id.in_(ids)))

    assert await operational_figures(store) == await counted_afresh(store)
    assert moved(before, await operational_figures(store)) == {}


PATH = [
    (Status.DRAFT, False),
    (Status.AWAITING_CLINICIAN, False),
    (Status.AWAITING_CLINICIAN, True),
    (Status.AWAITING_PATIENT, False),
    (Status.AWAITING_CLINICIAN, False),
    (Status.AWAITING_CLINICIAN, True),
    (Status.CLOSED, True),
]


async def case_written_out_of_order(store: Sessions, consultation_id: str) -> None:
    """Every revision of one case at once and in a random order, each twice (a retry), as
    racing activities would: the revision guard keeps the newest, whichever lands last."""
    consultations, outbox = Consultations(store), Outbox(store)
    revisions = list(enumerate(PATH, start=1)) * 2
    random.shuffle(revisions)
    await asyncio.gather(
        *(
            consultations.save(record(consultation_id, revision, status, overdue))
            for revision, (status, overdue) in revisions
        )
    )
    breach = notice(consultation_id, NotificationEvent.OVERDUE, Audience.PRACTICE)
    closed = notice(consultation_id, NotificationEvent.CLOSED, Audience.PATIENT)
    await asyncio.gather(outbox.enqueue(breach), outbox.enqueue(closed), outbox.enqueue(breach))
    await asyncio.gather(
        outbox.mark_sent(breach.notification_key), outbox.count_attempt(closed.notification_key)
    )


async def test_figures_stay_exact_under_concurrent_writers_and_the_ledger_stays_small(
    store: Sessions,
) -> None:
    before = await operational_figures(store)
    cases = 80

    await asyncio.gather(
        *(case_written_out_of_order(store, uuid.uuid4().hex) for _ in range(cases))
    )
    after = await operational_figures(store)

    assert after == await counted_afresh(store)
    assert moved(before, after) == {
        "closed": cases,
        "deadline_breaches": cases,
        "notifications_undelivered": cases,
    }
    # Well over FOLD_EVERY rows were written; folds keep a few hundred at most.
    assert await ledger_rows(store) < 2 * FOLD_EVERY


@pytest.fixture(params=["sqlite", "postgres"])
def database_before_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store at the revision before the ledger: migrations are still to come."""
    yield from database_at(request, tmp_path, BEFORE_LEDGER, "econsult_figures")


async def write_cases(url: str, statuses: list[Status], first_revision: int = 1) -> list[str]:
    engine = create_engine(url)
    store = create_session_factory(engine)
    consultations, outbox = Consultations(store), Outbox(store)
    ids = []
    for n, status in enumerate(statuses):
        consultation_id = uuid.uuid4().hex
        await consultations.save(record(consultation_id, first_revision, status, n % 2 == 0))
        breach = notice(consultation_id, NotificationEvent.OVERDUE, Audience.PRACTICE)
        await outbox.enqueue(breach)
        if n % 3 == 0:
            await outbox.mark_sent(breach.notification_key)
        ids.append(consultation_id)
    await engine.dispose()
    return ids


async def figures_and_full_count(url: str) -> tuple[OperationalFigures, OperationalFigures]:
    engine = create_engine(url)
    store = create_session_factory(engine)
    try:
        return await operational_figures(store), await counted_afresh(store)
    finally:
        await engine.dispose()


@pytest.mark.embedded_postgres
async def test_the_migration_counts_the_rows_already_there_and_a_downgrade_round_trip_too(
    database_before_ledger: str,
) -> None:
    url = database_before_ledger
    statuses = [Status.AWAITING_CLINICIAN, Status.AWAITING_PATIENT, Status.CLOSED] * 3
    await write_cases(url, statuses)

    alembic(url, "upgrade", "head")
    figures, full = await figures_and_full_count(url)

    assert figures == full
    assert figures.by_status[Status.AWAITING_CLINICIAN] == 3
    assert (figures.overdue, figures.deadline_breaches) == (3, 9)
    assert figures.notifications_undelivered == 6

    # Written after the upgrade (counted by the triggers), then without them, then upgraded.
    await write_cases(url, [Status.DRAFT, Status.AWAITING_PATIENT])
    figures, full = await figures_and_full_count(url)
    assert figures == full
    alembic(url, "downgrade", BEFORE_LEDGER)
    await write_cases(url, [Status.WITHDRAWN, Status.EXPIRED, Status.AWAITING_CLINICIAN])
    alembic(url, "upgrade", "head")
    figures, full = await figures_and_full_count(url)

    assert figures == full
    assert sum(figures.by_status.values()) == len(statuses) + 5


@pytest.mark.embedded_postgres
async def test_postgres_copy_and_truncate_keep_the_figures_exact(
    postgres_server: PostgresServer,
) -> None:
    """A COPY of many rows adds one ledger row per figure; a truncate zeroes the table's."""
    with postgres_server.fresh_database("econsult_figures") as url:
        rows = 3 * FOLD_EVERY
        with psycopg.connect(libpq_url(url)) as connection:
            copied = connection.cursor().copy(
                "COPY consultations (id, patient_id, clinician_id, recipient_id, practice_id,"
                " status, created_at, overdue, copayment_status, revision) FROM STDIN"
            )
            with copied as copy:
                for n in range(rows):
                    status = [Status.AWAITING_CLINICIAN, Status.CLOSED][n % 2].value
                    copy.write_row(
                        (f"copied-{n}", "p", "c", "c", "pr", status, NOW, n % 3 == 0, "pending", 1)
                    )
        engine = create_engine(url)
        store = create_session_factory(engine)
        try:
            figures = await operational_figures(store)
            assert figures == await counted_afresh(store)
            assert figures.by_status[Status.CLOSED] == rows // 2
            assert await ledger_rows(store) == 3  # two statuses and overdue

            await write_cases(url, [Status.AWAITING_PATIENT] * 3)
            with psycopg.connect(libpq_url(url)) as connection:
                connection.execute("TRUNCATE consultations CASCADE")
            figures = await operational_figures(store)

            assert figures == await counted_afresh(store)
            assert sum(figures.by_status.values()) == figures.overdue == 0
            assert figures.deadline_breaches == 3  # the outbox was not truncated
        finally:
            await engine.dispose()
