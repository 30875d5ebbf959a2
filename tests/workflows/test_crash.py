"""Exactly once: a worker process killed (SIGKILL) mid-activity and restarted duplicates nothing."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from dev.harness.processes import Processes
from domain.models import (
    CloseCommand,
    ConsultationStart,
    ReplyCommand,
    Role,
    Status,
    WithdrawCommand,
)
from store.database import create_engine, create_session_factory
from store.tables import Charge, JournalEntry
from tests.support import (
    CLINICIAN,
    WorkerProcess,
    content,
    effects,
    new_start,
    seed_directory,
    start,
    temporal_address,
    worker_env,
)
from workflows.econsultation import EConsultation

CONSULTATIONS = 200
KILLS = 5
IN_FLIGHT = 40


@pytest.fixture
async def seeded_postgres(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    yield sessions
    await engine.dispose()


@pytest.fixture
def worker_process(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, str]]:
    task_queue = f"econsultation-crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(temporal_address(dev_env), postgres_url, task_queue)
    with Processes(tmp_path) as processes:
        worker = WorkerProcess(processes, env)
        worker.start()
        yield worker, task_queue


@dataclass(frozen=True)
class LifePath:
    """One way through a consultation's life, and the effects it must leave exactly once."""

    name: str
    final: Status
    effects: dict[str, int]
    charged: int


FULL = LifePath(
    "answered, followed up, closed with a message",
    Status.CLOSED,
    # four messages and the close; new message, reply, settled co-payment, new message, closed
    {"messages": 4, "journal": 5, "notifications": 5, "charges": 1},
    charged=1,
)
NOT_BILLABLE = LifePath(
    "answered as not billable, closed",
    Status.CLOSED,
    # No billable clinician message: no_charge on the case, and no charge row at all.
    {"messages": 2, "journal": 3, "notifications": 3, "charges": 0},
    charged=0,
)
WITHDRAWN = LifePath(
    "withdrawn before any reply",
    Status.WITHDRAWN,
    {"messages": 1, "journal": 2, "notifications": 2, "charges": 0},
    charged=0,
)
CLOSED_UNANSWERED = LifePath(
    "closed by the clinician without a message",
    Status.CLOSED,
    {"messages": 1, "journal": 2, "notifications": 2, "charges": 0},
    charged=0,
)
PATHS = (FULL, FULL, NOT_BILLABLE, WITHDRAWN, CLOSED_UNANSWERED)


def clinician(body: str, **options: bool) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content(body), **options
    )


async def execute_update(handle: Any, update: Any, command: Any) -> None:
    """One command, retried as a client retries it: same update id, same message id.

    While a killed worker's workflow task times out, the server refuses new updates with
    FAILED_PRECONDITION ("Workflow Task in failed state") until a worker has taken it again.
    """
    update_id = uuid.uuid4().hex
    for _ in range(60):
        try:
            await handle.execute_update(update, command, id=update_id)
            return
        except RPCError as error:
            if error.status != RPCStatusCode.FAILED_PRECONDITION:
                raise
            await asyncio.sleep(1)
    raise AssertionError(f"update {update_id} was never taken")


async def drive(
    handle: Any, case: ConsultationStart, path: LifePath, slots: asyncio.Semaphore
) -> None:
    async with slots:
        if path is FULL:
            await execute_update(handle, EConsultation.reply, clinician("a"))
            await execute_update(
                handle,
                EConsultation.reply,
                ReplyCommand(
                    author_role=Role.PATIENT, author_id=case.patient.id, message=content("b")
                ),
            )
            await execute_update(handle, EConsultation.reply, clinician("c", close=True))
        elif path is NOT_BILLABLE:
            await execute_update(
                handle, EConsultation.reply, clinician("book an appointment", billable=False)
            )
            await execute_update(handle, EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
        elif path is WITHDRAWN:
            await execute_update(
                handle, EConsultation.withdraw, WithdrawCommand(patient_id=case.patient.id)
            )
        else:
            await execute_update(handle, EConsultation.close, CloseCommand(clinician_id=CLINICIAN))


async def charged(store: async_sessionmaker[AsyncSession], consultation_id: str) -> int:
    async with store() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Charge)
                .where(Charge.consultation_id == consultation_id, Charge.status == "charged")
            )
            or 0
        )


async def journal_size(store: async_sessionmaker[AsyncSession]) -> int:
    async with store() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalEntry)) or 0)


async def kill_repeatedly(
    worker: WorkerProcess, store: async_sessionmaker[AsyncSession], done: asyncio.Event
) -> int:
    """Kill the worker while it is busy: right after it is seen writing, at a random moment."""
    kills = 0
    rng = random.Random(2027)
    while not done.is_set() and kills < KILLS:
        seen = await journal_size(store)
        while not done.is_set() and await journal_size(store) == seen:  # noqa: ASYNC110 (polls the DB)
            await asyncio.sleep(0.02)
        await asyncio.sleep(rng.uniform(0.0, 0.2))
        if done.is_set():
            break
        worker.kill()
        kills += 1
        worker.start()
    return kills


async def test_a_worker_killed_mid_activity_leaves_exactly_one_effect_per_event(
    dev_env: WorkflowEnvironment,
    seeded_postgres: async_sessionmaker[AsyncSession],
    worker_process: tuple[WorkerProcess, str],
) -> None:
    store = seeded_postgres
    worker, task_queue = worker_process
    cases = [(new_start(), PATHS[n % len(PATHS)]) for n in range(CONSULTATIONS)]
    handles = [await start(dev_env.client, task_queue, case) for case, _ in cases]
    done = asyncio.Event()
    killer = asyncio.create_task(kill_repeatedly(worker, store, done))
    slots = asyncio.Semaphore(IN_FLIGHT)

    await asyncio.gather(
        *(drive(h, case, path, slots) for h, (case, path) in zip(handles, cases, strict=True))
    )
    results = await asyncio.gather(*(h.result() for h in handles))
    done.set()
    kills = await killer

    assert kills == KILLS
    for result, (case, path) in zip(results, cases, strict=True):
        assert result.status == path.final, path.name
        assert await effects(store, case.consultation_id) == path.effects, path.name
        assert await charged(store, case.consultation_id) == path.charged, path.name
