"""`python worker.py` as production runs it: says when it is ready, serves its metrics, and on
SIGTERM stops gracefully (exit 0) while the consultation it was working on completes on a
restarted worker with every effect exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import ReplyCommand, Role, Status
from tests.api.support import eventually
from tests.operations.conftest import free_port, temporal_address
from tests.support import CLINICIAN, content, effects, effects_when_quiet, new_start, seed_directory
from tests.support import start as start_consultation
from workflows.econsultation import EConsultation

ROOT = Path(__file__).resolve().parents[2]
STARTS_WITHIN = 60.0
STOPS_WITHIN = 60.0


class WorkerProcess:
    """One `python worker.py`, its JSON log lines collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            try:
                self.events.append(json.loads(line))
            except json.JSONDecodeError:
                self.events.append({"event": line.decode(errors="replace").strip()})

    def logged(self) -> list[str]:
        return [str(e.get("event")) for e in self.events if e.get("logger") == "econsult.worker"]

    async def ready(self) -> None:
        async with asyncio.timeout(STARTS_WITHIN):
            while "worker ready" not in self.logged():
                assert self.process.returncode is None, self.events
                await asyncio.sleep(0.05)

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOPS_WITHIN):
            code = await self.process.wait()
            await self._reader
        return code


@asynccontextmanager
async def worker_process(environment: dict[str, str]) -> AsyncIterator[WorkerProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    worker = WorkerProcess(process)
    try:
        await worker.ready()
        yield worker
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def clinician_closes() -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN,
        author_id=CLINICIAN,
        message=content("Use the cream twice a day."),
        close=True,
    )


async def test_sigterm_stops_the_worker_gracefully_and_a_restarted_one_completes_the_case(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
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

    async with worker_process(environment) as first:
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

    async with worker_process(environment) as second:
        async with asyncio.timeout(STOPS_WITHIN):
            view = await handle.result()
        left = await effects_when_quiet(sessions, case.consultation_id)
        second_exit = await second.terminate()

    assert first_exit == 0, [e.get("event") for e in first.events]
    assert first.logged() == ["worker ready", "worker stopping", "worker stopped"]
    stopping = next(e for e in first.events if e.get("event") == "worker stopping")
    assert stopping["reason"] == "SIGTERM"
    assert 'activity_type="store_message"' in worker_metrics
    assert view.status == Status.CLOSED
    # Two messages and the close; the clinician told of the question, the patient of the close.
    assert left == {"messages": 2, "journal": 3, "notifications": 2, "charges": 1}
    assert second_exit == 0, second.events[-8:]
    assert second.logged()[-2:] == ["worker stopping", "worker stopped"]
