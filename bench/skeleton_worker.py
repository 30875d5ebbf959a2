"""`python -m bench.skeleton_worker`: a worker for BenchSkeleton, wired like `worker.py`.

Same client recipe (encrypted converter, tracing interceptor), same activity concurrency;
its own task queue (`BENCH_SKELETON_TASK_QUEUE`).
"""

from __future__ import annotations

import asyncio
import os
import signal

from temporalio.worker import Worker

from bench.skeleton import SKELETON_TASK_QUEUE, BenchSkeleton, noop
from infra.logs import configure_logging
from infra.settings import get_settings
from infra.telemetry import configure_tracing
from infra.temporal import connect


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    configure_tracing(settings, "bench-skeleton")
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=os.environ.get("BENCH_SKELETON_TASK_QUEUE", SKELETON_TASK_QUEUE),
        workflows=[BenchSkeleton],
        activities=[noop],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
    )
    await run_until_stopped(worker)


async def run_until_stopped(worker: Worker) -> None:
    """Run a bench worker until the stack stops it (SIGTERM) or Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
