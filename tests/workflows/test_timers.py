"""Every timer path on the time-skipping server: draft expiry, reminder, overdue, the late
notice at 08:00 the morning after, inactivity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import CloseReason, CopaymentStatus, ReplyCommand, Role, Status
from domain.working_days import OSLO
from tests.support import (
    CLINICIAN,
    case_row,
    content,
    effects,
    new_start,
    notifications,
    start,
)
from tests.workflows.support import seeded_worker
from workflows.econsultation import EConsultation


@pytest.fixture
async def task_queue(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[str]:
    async with seeded_worker(env, sqlite_url, sessions) as task_queue:
        yield task_queue


async def sleep_until(env: WorkflowEnvironment, instant: datetime) -> None:
    await env.sleep(instant - await env.get_current_time())


def oslo(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=OSLO)


def at_instant(actual: datetime, expected: datetime) -> bool:
    """Timers fire at their instant; the server stamps the task a few milliseconds later."""
    return timedelta(0) <= actual - expected < timedelta(seconds=1)


async def test_submission_before_easter_2027_is_due_monday_after_easter_and_goes_overdue(
    env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await sleep_until(env, oslo(2027, 3, 24, 10, 0))
    case = new_start()
    handle = await start(env.client, task_queue, case)
    await env.sleep(timedelta(seconds=5))

    view = await handle.query(EConsultation.view)
    assert view.status == Status.AWAITING_CLINICIAN
    assert view.reply_due_at == oslo(2027, 4, 5, 23, 59, 59)

    await sleep_until(env, oslo(2027, 4, 5, 7, 59, 0))
    assert [n.event for n in await notifications(sessions, case.consultation_id)] == ["new_message"]

    await sleep_until(env, oslo(2027, 4, 5, 8, 1, 0))
    reminder = (await notifications(sessions, case.consultation_id))[-1]
    assert (reminder.event, reminder.audience) == ("reminder", "clinician")
    assert at_instant(reminder.occurred_at, oslo(2027, 4, 5, 8, 0, 0))
    assert not (await handle.query(EConsultation.view)).overdue

    await sleep_until(env, oslo(2027, 4, 6, 7, 59, 0))
    sent = await notifications(sessions, case.consultation_id)
    # The practice is alerted at the deadline; the patient is not woken at midnight.
    assert [(n.event, n.audience) for n in sent[2:]] == [("overdue", "practice")]
    assert at_instant(sent[2].occurred_at, oslo(2027, 4, 5, 23, 59, 59))
    view = await handle.query(EConsultation.view)
    assert (view.status, view.overdue) == (Status.AWAITING_CLINICIAN, True)
    row = await case_row(sessions, case.consultation_id)
    assert row is not None and row.overdue

    await sleep_until(env, oslo(2027, 4, 6, 8, 1, 0))
    late = (await notifications(sessions, case.consultation_id))[3:]
    assert [(n.event, n.audience) for n in late] == [("answer_late", "patient")]
    assert at_instant(late[0].occurred_at, oslo(2027, 4, 6, 8, 0, 0))


async def test_a_reply_before_eight_the_morning_after_the_deadline_cancels_the_late_notice(
    env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await sleep_until(env, oslo(2027, 3, 24, 10, 0))
    case = new_start()
    handle = await start(env.client, task_queue, case)
    await sleep_until(env, oslo(2027, 4, 6, 7, 30, 0))  # overdue since midnight
    assert (await handle.query(EConsultation.view)).overdue
    await handle.signal(
        EConsultation.reply_signal,
        ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
    )

    await sleep_until(env, oslo(2027, 4, 7, 9, 0, 0))

    sent = await notifications(sessions, case.consultation_id)
    assert ("answer_late", "patient") not in {(n.event, n.audience) for n in sent}
    # The settlement's own event may follow; of the case's events, the reply is the last.
    case_events = [n for n in sent if n.event != "copayment_settled"]
    assert (case_events[-1].event, case_events[-1].audience) == ("reply_available", "patient")


async def test_a_draft_never_submitted_expires_after_24_hours_leaving_no_effects(
    env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start(message=None)
    handle = await start(env.client, task_queue, case)
    await env.sleep(timedelta(hours=23, minutes=59))
    assert (await handle.query(EConsultation.view)).status == Status.DRAFT

    result = await handle.result()

    assert result.status == Status.EXPIRED
    assert result.closed_at is not None
    assert at_instant(result.closed_at, result.created_at + timedelta(hours=24))
    assert result.copayment.status == CopaymentStatus.NOT_APPLICABLE
    assert await effects(sessions, case.consultation_id) == {
        "messages": 0,
        "journal": 0,
        "notifications": 0,
        "charges": 0,
    }


async def test_thirty_days_waiting_for_the_patient_closes_the_case_as_inactive(
    env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(env.client, task_queue, case)
    await handle.signal(
        EConsultation.reply_signal,
        ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
    )
    await env.sleep(timedelta(days=29, hours=23))
    view = await handle.query(EConsultation.view)
    assert view.status == Status.AWAITING_PATIENT
    replied_at = await env.get_current_time() - timedelta(days=29, hours=23)

    result = await handle.result()

    assert (result.status, result.close_reason) == (Status.CLOSED, CloseReason.INACTIVE)
    assert result.closed_at is not None
    assert abs(result.closed_at - (replied_at + timedelta(days=30))) < timedelta(minutes=1)
    assert not result.can_patient_reply
    sent = await notifications(sessions, case.consultation_id)
    assert (sent[-1].event, sent[-1].audience) == ("closed", "patient")
    assert await effects(sessions, case.consultation_id) == {
        "messages": 2,
        "journal": 3,  # two messages and the automatic close
        "notifications": 4,  # new message, reply, the settled co-payment, closed
        "charges": 1,
    }


async def test_a_patient_follow_up_gets_a_fresh_deadline_from_its_own_day(
    env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await sleep_until(env, oslo(2027, 5, 3, 9, 0))  # Monday
    case = new_start()
    handle = await start(env.client, task_queue, case)
    await env.sleep(timedelta(seconds=5))
    # Ascension Day (Thu 6 May 2027) is not a working day.
    assert (await handle.query(EConsultation.view)).reply_due_at == oslo(2027, 5, 11, 23, 59, 59)
    await handle.signal(
        EConsultation.reply_signal,
        ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
    )
    await sleep_until(env, oslo(2027, 5, 12, 14, 0))  # a spec worked example: due Thu 20 May
    await handle.signal(
        EConsultation.reply_signal,
        ReplyCommand(
            author_role=Role.PATIENT, author_id=case.patient.id, message=content("Still itchy.")
        ),
    )
    await env.sleep(timedelta(seconds=5))

    view = await handle.query(EConsultation.view)

    assert view.status == Status.AWAITING_CLINICIAN
    assert view.reply_due_at == oslo(2027, 5, 20, 23, 59, 59)
    assert not view.overdue
