"""`python worker.py` as production runs it: says when it is ready, serves its metrics, and on
SIGTERM stops gracefully (exit 0) while the consultation it was working on completes on a
restarted worker with every effect exactly once."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from dev.harness.ports import free_port
from domain.models import ReplyCommand, Role, Status
from tests.api.support import eventually
from tests.support import (
    CLINICIAN,
    effects,
    effects_when_quiet,
    new_start,
    reply,
    seed_directory,
    temporal_address,
    worker_process,
)
from tests.support import start as start_consultation
from workflows.econsultation import EConsultation

STOPS_WITHIN = 60.0


def clinician_closes() -> ReplyCommand:
    return reply(Role.CLINICIAN, CLINICIAN, "Use the cream twice a day.", close=True)


async def test_sigterm_stops_the_worker_gracefully_and_a_restarted_one_completes_the_case(
    dev_env: WorkflowEnvironment,
    sqlite_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await seed_directory(sessions)
    metrics_address = f"127.0.0.1:{free_port()}"
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_address(dev_env),
        "DATABASE_URL": sqlite_url,
        "ECONSULT_TASK_QUEUE": f"econsultation-sigterm-{uuid.uuid4().hex[:8]}",
        "WORKER_METRICS_ADDRESS": metrics_address,
        "LOG_LEVEL": "INFO",
    }
    environment.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    case = new_start()

    async with worker_process(environment, tmp_path / "first") as first:
        handle = await start_consultation(dev_env.client, environment["ECONSULT_TASK_QUEUE"], case)
        await eventually(
            lambda: effects(sessions, case.consultation_id),
            lambda found: found["journal"] == 1 and found["notifications"] == 1,
        )
        async with httpx.AsyncClient(timeout=10) as http:
            worker_metrics = (await http.get(f"http://{metrics_address}/metrics")).text
        # The clinician answers and closes; the worker is told to stop while it works on it.
        await handle.signal(EConsultation.reply_signal, clinician_closes())
        first_exit = await first.terminate()

    async with worker_process(environment, tmp_path / "second") as second:
        async with asyncio.timeout(STOPS_WITHIN):
            view = await handle.result()
        left = await effects_when_quiet(sessions, case.consultation_id)
        second_exit = await second.terminate()

    assert first_exit == 0, [e.get("event") for e in first.events]
    assert first.logged() == ["worker ready", "worker stopping", "worker stopped"]
    stopping = next(e for e in first.events if e.get("event") == "worker stopping")
    assert stopping["reason"] == "SIGTERM"
    assert 'activity_type="commit"' in worker_metrics
    assert view.status == Status.CLOSED
    # Two messages and the close; the clinician told of the question, the patient of the
    # settled co-payment and of the close.
    assert left == {"messages": 2, "journal": 3, "notifications": 3, "charges": 1}
    assert second_exit == 0, second.events[-8:]
    assert second.logged()[-2:] == ["worker stopping", "worker stopped"]
