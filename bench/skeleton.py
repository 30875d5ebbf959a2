"""BenchSkeleton: the bare Temporal cost of one consultation lifecycle, to compare against.

It replays EConsultation's message pattern with no-op activities: the same updates (create
through update-with-start `opened`, then `reply`, then `close`), and within each the same
number and kind (regular or local) of activities, awaited or in the background, with
payloads of about the same size, through the same encrypted data converter. Like
EConsultation it passes its models through the sandbox rather than re-importing them.

The pattern is not written down here: see bench/skeleton_plan.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity, workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from bench.skeleton_plan import ActivityCall, Padded, SkeletonStart, padding
    from workflows.calls import STORE_RETRY, STORE_TIMEOUT

SKELETON_TASK_QUEUE = "bench-skeleton"
# Every call takes EConsultation's case-store options, imported so they cannot drift. Where
# EConsultation differs (notifications and the record system have their own timeouts and
# retries, notifications a schedule-to-close limit) nothing changes in the cost: a no-op
# activity never times out nor retries, and options travel in commands of about one size.


@activity.defn(name="bench_noop")
async def noop(call: Padded) -> Padded:
    return Padded(padding=padding(call.result_bytes))


@workflow.defn(name="BenchSkeleton")
class BenchSkeleton:
    @workflow.init
    def __init__(self, start: SkeletonStart) -> None:
        self._steps = start.plan.steps
        self._next_step = 0
        self._lock = asyncio.Lock()
        self._background: list[asyncio.Task[Padded]] = []

    @workflow.run
    async def run(self, start: SkeletonStart) -> str:
        await workflow.wait_condition(lambda: self._next_step == len(self._steps))
        await asyncio.gather(*self._background)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return padding(start.plan.result_bytes)

    @workflow.update(dynamic=True)
    async def step(self, name: str, args: Sequence[RawValue]) -> str:
        """Each update takes the next step of the plan: its activities, then its answer."""
        async with self._lock:
            step = self._steps[self._next_step]
            if step.update != name:
                raise ValueError(f"expected update {step.update!r}, got {name!r}")
            for call in step.awaited:
                await self._run(call)
            self._background.extend(asyncio.create_task(self._run(c)) for c in step.background)
            self._next_step += 1
            return padding(step.result_bytes)

    async def _run(self, call: ActivityCall) -> Padded:
        argument = Padded(result_bytes=call.result_bytes, padding=padding(call.input_bytes))
        execute = workflow.execute_local_activity if call.local else workflow.execute_activity
        return await execute(
            noop, argument, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
        )
