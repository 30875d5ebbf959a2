"""BenchNaive: a fixed, plain Temporal lifecycle to measure the service against.

Start, three signals, two regular no-op activities after each (six in all), then complete;
default data converter (no codec), no interceptors, its own worker process and task queue.
Unlike the skeleton it does not follow EConsultation, so "API / naive" moves only when the
service's own cost does, never because the workflow's shape changed.

`python -m bench.naive` runs its worker (`BENCH_NAIVE_TASK_QUEUE`, Temporal at
`TEMPORAL_ADDRESS`).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

NAIVE_TASK_QUEUE = "bench-naive"
SIGNALS = 3
ACTIVITIES_PER_SIGNAL = 2


@activity.defn(name="naive_noop")
async def naive_noop(step: int) -> int:
    return step


@workflow.defn(name="BenchNaive")
class BenchNaive:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.run
    async def run(self) -> int:
        done = 0
        for received in range(1, SIGNALS + 1):
            await workflow.wait_condition(lambda n=received: self._signals >= n)  # type: ignore[misc]
            for _ in range(ACTIVITIES_PER_SIGNAL):
                done += await workflow.execute_activity(
                    naive_noop, 1, start_to_close_timeout=timedelta(seconds=10)
                )
        return done

    @workflow.signal
    def step(self) -> None:
        self._signals += 1


async def naive_lifecycle(client: Client, workflow_id: str, task_queue: str) -> str:
    """Start, three signals, wait for the result: the anchor's one lifecycle."""
    handle = await client.start_workflow(BenchNaive.run, id=workflow_id, task_queue=task_queue)
    for _ in range(SIGNALS):
        await handle.signal(BenchNaive.step)
    await handle.result()
    return workflow_id


async def main() -> None:
    # Here, not at the top: the sandbox re-imports this module to validate the workflow.
    from bench.skeleton_worker import run_until_stopped

    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    worker = Worker(
        client,
        task_queue=os.environ.get("BENCH_NAIVE_TASK_QUEUE", NAIVE_TASK_QUEUE),
        workflows=[BenchNaive],
        activities=[naive_noop],
    )
    await run_until_stopped(worker)


if __name__ == "__main__":
    asyncio.run(main())
