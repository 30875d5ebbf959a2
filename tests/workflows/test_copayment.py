"""Co-payment as billed: the frikort register asked at the reply, the replying clinician's rate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.copayment import DEFAULT_TARIFFS, decide_copayment, is_evening_rate, tariff_on
from domain.effects import SettleCopayment
from domain.models import (
    CloseCommand,
    ConsultationStart,
    ConsultationView,
    CopaymentStatus,
    ReplyCommand,
    Role,
    Status,
)
from domain.parties import Patient
from domain.working_days import oslo_day
from infra.tariffs import load_tariffs
from store.directory import Directory, DirectoryEntry, Substitute
from store.frikort import FrikortTable
from store.tables import Charge
from tests.support import (
    PATIENT,
    content,
    effects_when_quiet,
    new_start,
    notifications,
    relate,
    running_worker,
    start,
)
from workflows.econsultation import EConsultation

Handle = WorkflowHandle[EConsultation, ConsultationView]
Run = Callable[..., AbstractAsyncContextManager[Handle]]


@pytest.fixture
def run(dev_env: WorkflowEnvironment, database_url: str) -> Run:
    """Starts a case on a worker of its own (keywords go to the worker) for the block's time."""

    @asynccontextmanager
    async def run(case: ConsultationStart, **worker: Any) -> AsyncIterator[Handle]:
        async with running_worker(dev_env.client, database_url, **worker) as queue:
            yield await start(dev_env.client, queue, case)

    return run


async def seed_pair(
    sessions: async_sessionmaker[AsyncSession], *, specialist: bool, substitute_specialist: bool
) -> tuple[str, str]:
    """A clinician and their substitute (active today), each with their own specialist flag."""
    clinician, substitute = f"hpr-{uuid.uuid4().hex[:8]}", f"hpr-sub-{uuid.uuid4().hex[:8]}"
    today = oslo_day(datetime.now(UTC))
    directory = Directory(sessions)
    await directory.put(
        DirectoryEntry(
            id=substitute,
            name="Dr. Vikar",
            practice_id="practice-copay",
            accepts_econsultations=True,
            specialist_in_general_practice=substitute_specialist,
        )
    )
    await directory.put(
        DirectoryEntry(
            id=clinician,
            name="Dr. Fastlege",
            practice_id="practice-copay",
            accepts_econsultations=True,
            specialist_in_general_practice=specialist,
            substitute=Substitute(
                clinician_id=substitute,
                valid_from=today - timedelta(days=1),
                valid_to=today + timedelta(days=1),
            ),
        )
    )
    await relate(sessions, PATIENT, clinician)
    return clinician, substitute


@pytest.fixture
async def clinician(store: async_sessionmaker[AsyncSession]) -> str:
    """A clinician at the general rate, related to the patient, with a substitute."""
    clinician, _ = await seed_pair(store, specialist=False, substitute_specialist=False)
    return clinician


@pytest.fixture
def case(clinician: str) -> ConsultationStart:
    """A new case addressed to that clinician."""
    return new_start(clinician_id=clinician, recipient_id=clinician)


def reply_by(clinician_id: str) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN, author_id=clinician_id, message=content("Use the cream.")
    )


def follow_up() -> ReplyCommand:
    return ReplyCommand(author_role=Role.PATIENT, author_id=PATIENT, message=content("Thanks."))


async def settled_view(handle: WorkflowHandle[Any, Any]) -> ConsultationView:
    """The case once its co-payment settled (in the background, after the reply answered)."""
    while True:
        view = await handle.query(EConsultation.view)
        if view.copayment.status != CopaymentStatus.PENDING:
            return view
        await asyncio.sleep(0.05)


async def charge_row(sessions: async_sessionmaker[AsyncSession], consultation_id: str) -> Charge:
    async with sessions() as session:
        row = await session.get(Charge, consultation_id)
        assert row is not None
        return row


class RegisterDown:
    """Helfo's register as seen from here: unreachable until the test brings it back."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.asked_again = asyncio.Event()
        self.asked = 0

    async def holds_frikort(self, patient_id: str, on_day: date) -> bool:
        self.asked += 1
        if self.asked >= 2:
            self.asked_again.set()
        if not self.up.is_set():
            raise ConnectionError("frikort register unreachable")
        return False


async def test_frikort_granted_after_submission_and_before_the_reply_is_exempt(
    store: async_sessionmaker[AsyncSession], run: Run
) -> None:
    clinician, _ = await seed_pair(store, specialist=True, substitute_specialist=False)
    # A patient of this test's own: the frikort recorded here must not exempt other tests.
    patient = Patient(id=f"patient-{uuid.uuid4().hex[:8]}", birth_date=date(1980, 5, 17))
    await relate(store, patient.id, clinician)
    case = new_start(patient=patient, clinician_id=clinician, recipient_id=clinician)
    async with run(case) as handle:
        # The patient reaches the ceiling while the question waits for an answer.
        today = oslo_day(datetime.now(UTC))
        await FrikortTable(store).record(case.patient.id, today - timedelta(days=1), today)
        await handle.execute_update(EConsultation.reply, reply_by(clinician))
        view = await settled_view(handle)

    assert view.copayment.status == CopaymentStatus.EXEMPT
    assert view.copayment.amount_nok == Decimal(0)
    row = await charge_row(store, case.consultation_id)
    assert (row.status, row.exemption) == ("exempt", "frikort")


async def test_frikort_register_down_at_the_reply_settles_once_when_it_is_back(
    store: async_sessionmaker[AsyncSession], run: Run, clinician: str, case: ConsultationStart
) -> None:
    register = RegisterDown()
    async with run(case, frikort_register=register) as handle:
        # The reply answers while the register is still down: the charge waits, the reply not.
        view = await handle.execute_update(EConsultation.reply, reply_by(clinician))
        assert view.status == Status.AWAITING_PATIENT
        assert view.copayment.status == CopaymentStatus.PENDING
        await register.asked_again.wait()  # asked, refused, asked again after the backoff

        assert (await effects_when_quiet(store, case.consultation_id))["charges"] == 0
        told = await notifications(store, case.consultation_id)
        assert [n.event for n in told if n.audience == "patient"] == ["reply_available"]
        # Other commands are not held up either: the patient follows up meanwhile.
        followed = await handle.execute_update(EConsultation.reply, follow_up())
        assert followed.status == Status.AWAITING_CLINICIAN
        assert followed.copayment.status == CopaymentStatus.PENDING

        register.up.set()
        settled = await settled_view(handle)
        # A repeat of the same reply (a retried command) settles nothing more.
        await handle.execute_update(EConsultation.reply, reply_by(clinician))

    assert settled.copayment.status == CopaymentStatus.CHARGED
    assert (await effects_when_quiet(store, case.consultation_id))["charges"] == 1


async def test_specialist_and_non_specialist_replying_at_once_same_tariff_higher_amount(
    dev_env: WorkflowEnvironment,
    database_url: str,
    store: async_sessionmaker[AsyncSession],
) -> None:
    # The clinician is a specialist, the substitute is not; each answers one consultation.
    clinician, substitute = await seed_pair(store, specialist=True, substitute_specialist=False)
    by_specialist = new_start(clinician_id=clinician, recipient_id=clinician)
    by_substitute = new_start(clinician_id=clinician, recipient_id=substitute)
    async with running_worker(dev_env.client, database_url) as queue:
        first = await start(dev_env.client, queue, by_specialist)
        second = await start(dev_env.client, queue, by_substitute)
        await asyncio.gather(
            first.execute_update(EConsultation.reply, reply_by(clinician)),
            second.execute_update(EConsultation.reply, reply_by(substitute)),
        )
        specialist_view, general_view = await asyncio.gather(
            settled_view(first), settled_view(second)
        )

    specialist, general = specialist_view.copayment, general_view.copayment
    assert specialist.settled_at is not None and general.settled_at is not None
    for outcome, is_specialist in ((specialist, True), (general, False)):
        assert outcome.status == CopaymentStatus.CHARGED
        assert outcome.settled_at is not None and outcome.tariff is not None
        row = tariff_on(oslo_day(outcome.settled_at), outcome.tariff, is_specialist)
        assert outcome.amount_nok == row.amount_nok
    if is_evening_rate(specialist.settled_at) == is_evening_rate(general.settled_at):
        assert specialist.tariff == general.tariff
        assert specialist.amount_nok is not None and general.amount_nok is not None
        assert specialist.amount_nok > general.amount_nok
    # The substitute who replied is billed, at their own rate, not the addressed clinician.
    billed = await charge_row(store, by_substitute.consultation_id)
    assert (billed.billed_clinician_id, billed.specialist_rate) == (substitute, False)
    billed = await charge_row(store, by_specialist.consultation_id)
    assert (billed.billed_clinician_id, billed.specialist_rate) == (clinician, True)


@pytest.mark.parametrize(
    ("replied_at", "specialist", "tariff", "amount"),
    [
        (datetime(2025, 8, 1, 8, 0, tzinfo=UTC), False, "2ae", "179"),  # 10:00 Oslo, Friday
        (datetime(2025, 8, 1, 8, 0, tzinfo=UTC), True, "2ae", "235"),
        (datetime(2026, 8, 1, 8, 0, tzinfo=UTC), False, "2aek", "301"),  # a Saturday
        (datetime(2026, 8, 1, 8, 0, tzinfo=UTC), True, "2aek", "357"),
    ],
)
async def test_settlement_charges_the_shipped_table_amount_of_the_reply_date(
    store: async_sessionmaker[AsyncSession],
    replied_at: datetime,
    specialist: bool,
    tariff: str,
    amount: str,
) -> None:
    clinician, _ = await seed_pair(store, specialist=specialist, substitute_specialist=False)
    consultation_id = uuid.uuid4().hex
    request = SettleCopayment(
        consultation_id=consultation_id,
        patient=Patient(id=f"patient-{consultation_id[:8]}", birth_date=date(1980, 5, 17)),
        replied_at=replied_at,
        clinician_id=clinician,
        specialist_in_general_practice=specialist,
    )

    outcome = decide_copayment(request, load_tariffs(None))

    assert (outcome.tariff, outcome.amount_nok) == (tariff, Decimal(amount))
    assert tariff_on(oslo_day(replied_at), tariff, specialist, DEFAULT_TARIFFS).amount_nok == (
        Decimal(amount)
    )


async def test_a_clarifying_question_not_billable_leaves_the_charge_for_the_answer_after_it(
    store: async_sessionmaker[AsyncSession], run: Run, clinician: str, case: ConsultationStart
) -> None:
    question = reply_by(clinician).model_copy(update={"billable": False})
    async with run(case) as handle:
        asked = await handle.execute_update(EConsultation.reply, question)
        await handle.execute_update(EConsultation.reply, follow_up())
        assert (await effects_when_quiet(store, case.consultation_id))["charges"] == 0
        assert asked.copayment.status == CopaymentStatus.PENDING
        answered = await handle.execute_update(EConsultation.reply, reply_by(clinician))
        settled = await settled_view(handle)

    assert settled.copayment.status == CopaymentStatus.CHARGED
    assert settled.copayment.settled_at is not None and answered.revision > asked.revision
    assert (await effects_when_quiet(store, case.consultation_id))["charges"] == 1
    assert (await charge_row(store, case.consultation_id)).billed_clinician_id == clinician


async def test_a_case_ending_with_no_billable_clinician_message_is_no_charge(
    store: async_sessionmaker[AsyncSession], run: Run, clinician: str, case: ConsultationStart
) -> None:
    async with run(case) as handle:
        await handle.execute_update(
            EConsultation.reply, reply_by(clinician).model_copy(update={"billable": False})
        )
        await handle.execute_update(
            EConsultation.close,
            CloseCommand(clinician_id=clinician, message=content("Bye."), billable=False),
        )
        result = await handle.result()

    assert result.copayment.status == CopaymentStatus.NO_CHARGE
    assert (await effects_when_quiet(store, case.consultation_id))["charges"] == 0


async def test_the_specialist_rate_is_decided_when_the_message_is_taken_not_at_settlement(
    store: async_sessionmaker[AsyncSession], run: Run, clinician: str, case: ConsultationStart
) -> None:
    register = RegisterDown()
    async with run(case, frikort_register=register) as handle:
        await handle.execute_update(EConsultation.reply, reply_by(clinician))
        await register.asked_again.wait()  # the settlement waits for the register
        directory = Directory(store)
        entry = await directory.get(clinician)
        assert entry is not None
        await directory.put(entry.model_copy(update={"specialist_in_general_practice": True}))
        register.up.set()
        settled = await settled_view(handle)

    assert settled.copayment.status == CopaymentStatus.CHARGED
    billed = await charge_row(store, case.consultation_id)
    assert (billed.billed_clinician_id, billed.specialist_rate) == (clinician, False)
