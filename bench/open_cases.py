"""Worker memory (RSS) with N consultations open and waiting on their deadlines."""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import func, select

from bench.infra import BenchDatabase, Processes, rss_mb, service_env, start_temporal
from domain.models import consultation_workflow_id
from infra.settings import Settings
from infra.temporal import connect
from store.database import create_engine, create_session_factory
from store.tables import Consultation
from tests.support import new_start, seed_directory
from workflows.econsultation import EConsultation

BATCH = 200


async def open_cases(temporal_port: int, database_url: str, env: dict[str, str], n: int) -> float:
    settings = Settings(
        temporal_address=f"127.0.0.1:{temporal_port}",
        econsult_encryption_keys=env["ECONSULT_ENCRYPTION_KEYS"],
    )
    client = await connect(settings)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    started = time.perf_counter()
    for offset in range(0, n, BATCH):
        cases = [new_start() for _ in range(min(BATCH, n - offset))]
        await asyncio.gather(
            *(
                client.start_workflow(
                    EConsultation.run,
                    case,
                    id=consultation_workflow_id(case.consultation_id),
                    task_queue=settings.econsult_task_queue,
                )
                for case in cases
            )
        )
    while True:
        async with sessions() as session:
            opened = await session.scalar(
                select(func.count()).where(Consultation.status == "awaiting_clinician")
            )
        if opened == n:
            break
        await asyncio.sleep(1)
    await engine.dispose()
    return time.perf_counter() - started


def measure(n: int) -> dict[str, float]:
    with BenchDatabase() as url, Processes() as processes:
        port = start_temporal(processes)
        env = service_env(port, url)
        worker = processes.start("worker", [sys.executable, "worker.py"], env)
        seconds = asyncio.run(open_cases(port, url, env, n))
        time.sleep(2)
        current, peak = rss_mb(worker.pid)
    return {"open": n, "seconds_to_open": seconds, "rss_mb": current, "peak_rss_mb": peak}
