"""The portal's frikort flag at start counts for a billable message in the same calendar year
(Oslo) as the start; a message after New Year asks the frikort register for its own day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import CopaymentStatus, ReplyCommand, Role
from domain.parties import ExemptionCode, Patient
from domain.working_days import OSLO
from tests.support import (
    CLINICIAN,
    PATIENT,
    content,
    new_start,
    start,
)
from tests.workflows.support import seeded_worker
from workflows.econsultation import EConsultation


class Register:
    """The frikort register as the worker sees it: records which days it was asked about."""

    def __init__(self, holds: bool) -> None:
        self.holds = holds
        self.asked: list[date] = []

    async def holds_frikort(self, patient_id: str, on_day: date) -> bool:
        self.asked.append(on_day)
        return self.holds


async def _billed_at(
    env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    sqlite_url: str,
    register: Register,
    started: datetime,
    replied: datetime,
) -> tuple[CopaymentStatus, ExemptionCode | None]:
    await env.sleep(started - await env.get_current_time())
    patient = Patient(id=PATIENT, birth_date=date(1980, 5, 17), frikort=True)
    async with seeded_worker(env, sqlite_url, sessions, frikort_register=register) as queue:
        handle = await start(env.client, queue, new_start(patient=patient))
        await env.sleep(replied - await env.get_current_time())
        await handle.signal(
            EConsultation.reply_signal,
            ReplyCommand(
                author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content(), close=True
            ),
        )
        result = await handle.result()
    return result.copayment.status, result.copayment.exemption


async def test_a_start_flag_counts_for_an_answer_in_the_same_oslo_year(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], sqlite_url: str
) -> None:
    register = Register(holds=False)
    # 00:30 on 1 January in Oslo is still 31 December in UTC: the Oslo year decides.
    started = datetime(2027, 1, 1, 0, 30, tzinfo=OSLO)
    replied = datetime(2027, 1, 4, 10, 0, tzinfo=OSLO)

    billed = await _billed_at(env, sessions, sqlite_url, register, started, replied)

    assert billed == (CopaymentStatus.EXEMPT, ExemptionCode.FRIKORT)
    assert register.asked == []


async def test_after_new_year_the_register_is_asked_for_the_day_of_the_answer(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], sqlite_url: str
) -> None:
    register = Register(holds=False)
    started = datetime(2026, 12, 31, 22, 0, tzinfo=OSLO)
    replied = started + timedelta(hours=3)  # 01:00 on 1 January 2027 in Oslo

    billed = await _billed_at(env, sessions, sqlite_url, register, started, replied)

    assert billed == (CopaymentStatus.CHARGED, None)
    assert register.asked == [date(2027, 1, 1)]
