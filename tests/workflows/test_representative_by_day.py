"""A representative's right is judged on the day of each message: a thread a parent began for
an 11-year-old refuses the parent's follow-up once the child has turned 12 (time-skipping)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import ReplyCommand, Role, Status
from domain.parties import Patient, Representative, RepresentativeRelation
from domain.working_days import OSLO
from tests.support import (
    CLINICIAN,
    PATIENT,
    content,
    effects_when_quiet,
    new_start,
    reply,
    running_worker,
    seed_directory,
    start,
)
from workflows.econsultation import EConsultation

MOTHER = Representative(id="mother-1", relation=RepresentativeRelation.PARENT)


def parent_follow_up() -> ReplyCommand:
    return reply(Role.PATIENT, PATIENT, "She still has a fever.", representative=MOTHER)


async def test_a_parents_follow_up_after_the_childs_12th_birthday_is_refused(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], sqlite_url: str
) -> None:
    await seed_directory(sessions)
    # Monday 1 March 2027, 10:00 Oslo: the child turns 12 on Thursday 4 March.
    await env.sleep(datetime(2027, 3, 1, 10, 0, tzinfo=OSLO) - await env.get_current_time())
    child = Patient(id=PATIENT, birth_date=date(2015, 3, 4))
    case = new_start(patient=child, representative=MOTHER)
    async with running_worker(env.client, sqlite_url) as queue:
        handle = await start(env.client, queue, case)
        await env.sleep(timedelta(hours=1))
        await handle.signal(
            EConsultation.reply_signal,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        await env.sleep(timedelta(hours=1))
        # Still 11 on Wednesday: the mother may follow up.
        await env.sleep(datetime(2027, 3, 3, 12, 0, tzinfo=OSLO) - await env.get_current_time())
        await handle.signal(EConsultation.reply_signal, parent_follow_up())
        await env.sleep(timedelta(minutes=5))
        assert (await handle.query(EConsultation.view)).status == Status.AWAITING_CLINICIAN
        await handle.signal(
            EConsultation.reply_signal,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        # Thursday, 00:30 Oslo: 12 years old now.
        await env.sleep(datetime(2027, 3, 4, 0, 30, tzinfo=OSLO) - await env.get_current_time())
        await handle.signal(EConsultation.reply_signal, parent_follow_up())
        await env.sleep(timedelta(minutes=5))

        view = await handle.query(EConsultation.view)

    assert view.status == Status.AWAITING_PATIENT
    assert view.message_count == 4  # the first, two answers and the follow-up before 12
    assert (await effects_when_quiet(sessions, case.consultation_id))["messages"] == 4
