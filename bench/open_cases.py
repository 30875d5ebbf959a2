"""Worker memory (RSS) with N consultations open and waiting on their deadlines.

Cases are opened the way the API opens them (update-with-start `opened`, which answers once
the case and its first message are stored), a bounded number at a time: a flood of starts
would keep far more workflows mid-flight than the worker caches, and measure the cost of
replaying evicted workflows rather than the memory of open ones.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import func, select
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from bench.harness_run import bench_database, rss_mb, service_env, start_temporal
from bench.progress import progress
from dev.harness.processes import Processes
from domain.models import ConsultationStart, consultation_workflow_id
from infra.settings import Settings
from infra.temporal import connect
from store.database import create_engine, create_session_factory
from store.tables import Consultation, Notification
from tests.support import new_start, seed_directory
from workflows.econsultation import EConsultation

IN_FLIGHT = 32
QUIET_WITHIN_SECONDS = 300.0


async def _open(client: Client, task_queue: str, case: ConsultationStart) -> None:
    await client.execute_update_with_start_workflow(
        EConsultation.opened,
        start_workflow_operation=WithStartWorkflowOperation(
            EConsultation.run,
            case,
            id=consultation_workflow_id(case.consultation_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        ),
    )


async def open_cases(temporal_port: int, database_url: str, env: dict[str, str], n: int) -> float:
    """Seconds to open `n` cases, each stored and its clinician notified."""
    settings = Settings(
        temporal_address=f"127.0.0.1:{temporal_port}",
        econsult_encryption_keys=env["ECONSULT_ENCRYPTION_KEYS"],
    )
    client = await connect(settings)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    remaining = iter(range(n))

    async def lane() -> None:
        for number in remaining:
            await _open(client, settings.econsult_task_queue, new_start())
            if number and number % 1000 == 0:
                progress(f"open cases: {number:,} of {n:,} opened")

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(IN_FLIGHT, n))))
    # Opened means stored and waiting; the clinician's notification goes out just after.
    deadline = time.monotonic() + QUIET_WITHIN_SECONDS
    while True:
        async with sessions() as session:
            opened = await session.scalar(
                select(func.count()).where(Consultation.status == "awaiting_clinician")
            )
            notified = await session.scalar(
                select(func.count()).where(Notification.sent_at.is_not(None))
            )
        if opened == n and notified == n:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {opened} of {n} opened and {notified} notified")
        await asyncio.sleep(0.5)
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds


def measure(n: int) -> dict[str, float]:
    with bench_database() as url, Processes() as processes:
        port = start_temporal(processes)
        env = service_env(port, url)
        worker = processes.start("worker", [sys.executable, "worker.py"], env)
        seconds = asyncio.run(open_cases(port, url, env, n))
        time.sleep(2)
        current, peak = rss_mb(worker.pid)
    return {"open": n, "seconds_to_open": seconds, "rss_mb": current, "peak_rss_mb": peak}
