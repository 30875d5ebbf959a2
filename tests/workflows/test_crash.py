"""Exactly once: a worker process killed (SIGKILL) mid-activity and restarted duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import ReplyCommand, Role, Status
from store.database import create_engine, create_session_factory
from store.tables import JournalEntry
from tests.support import CLINICIAN, content, effects, new_start, seed_directory, start
from workflows.econsultation import EConsultation

ROOT = Path(__file__).resolve().parents[2]
CONSULTATIONS = 20
KILLS = 3


class WorkerProcess:
    """`python worker.py` in its own process, as production runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "worker.py"], cwd=ROOT, env=self._env, stdout=log, stderr=log
            )

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=60)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
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
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DATABASE_URL": postgres_url,
        "ECONSULT_TASK_QUEUE": task_queue,
        "WORKER_METRICS_ADDRESS": "",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    yield worker, task_queue
    worker.stop()


async def drive_to_close(handle: object, patient_id: str) -> None:
    """Clinician answers, patient follows up, clinician closes with a final message."""
    for command in (
        ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content("a")),
        ReplyCommand(author_role=Role.PATIENT, author_id=patient_id, message=content("b")),
        ReplyCommand(
            author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content("c"), close=True
        ),
    ):
        await handle.execute_update(EConsultation.reply_update, command)  # type: ignore[attr-defined]


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
    store: async_sessionmaker[AsyncSession],
    worker_process: tuple[WorkerProcess, str],
) -> None:
    worker, task_queue = worker_process
    cases = [new_start() for _ in range(CONSULTATIONS)]
    handles = [await start(dev_env.client, task_queue, case) for case in cases]
    done = asyncio.Event()
    killer = asyncio.create_task(kill_repeatedly(worker, store, done))

    await asyncio.gather(
        *(drive_to_close(h, c.patient.id) for h, c in zip(handles, cases, strict=True))
    )
    results = await asyncio.gather(*(h.result() for h in handles))
    done.set()
    kills = await killer

    assert kills == KILLS
    assert {r.status for r in results} == {Status.CLOSED}
    for case in cases:
        assert await effects(store, case.consultation_id) == {
            "messages": 4,
            "journal": 5,  # four messages and the close
            "notifications": 4,  # new message, reply, new message, closed
            "charges": 1,
        }
