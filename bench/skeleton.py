"""BenchSkeleton: the bare Temporal cost of one consultation lifecycle, to compare against.

It replays EConsultation's message pattern with no-op activities: the same updates (create
through update-with-start `opened`, then `reply`, then `close`), and within each the same
number and kind (regular or local) of activities, awaited or in the background, with
payloads of about the same size, through the same encrypted data converter.

The pattern is never written down here: `plan_from_history` reads it from the history of a
real consultation that the benchmark has just driven through the API. If EConsultation
moves an activity to a local activity, or adds or drops one, the skeleton follows on the
next run without an edit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.common import RawValue, RetryPolicy

SKELETON_TASK_QUEUE = "bench-skeleton"
# EConsultation's activity options, so retries and timeouts cost the same.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1))
# Bytes an encrypted payload adds around its JSON (nonce, tag, encoding metadata).
ENVELOPE_BYTES = 60
# The Python SDK's marker name for a completed local activity.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


class ActivityCall(BaseModel):
    local: bool
    input_bytes: int
    result_bytes: int


class Step(BaseModel):
    """One update of the lifecycle and the activities it causes."""

    update: str
    input_bytes: int = 0
    result_bytes: int = 0
    # Awaited before the update answers, in order.
    awaited: list[ActivityCall] = []
    # Started by the update and left running (EConsultation's notifications).
    background: list[ActivityCall] = []


class LifecyclePlan(BaseModel):
    start_input_bytes: int = 0
    result_bytes: int = 0
    steps: list[Step]

    def describe(self) -> str:
        def kinds(calls: list[ActivityCall]) -> str:
            local = sum(call.local for call in calls)
            return f"{len(calls) - local} regular + {local} local"

        return "; ".join(
            f"{step.update}: {kinds(step.awaited)} awaited, {kinds(step.background)} background"
            for step in self.steps
        )

    @property
    def activity_count(self) -> int:
        return sum(len(step.awaited) + len(step.background) for step in self.steps)


class SkeletonStart(BaseModel):
    plan: LifecyclePlan
    padding: str = ""


class Padded(BaseModel):
    """A no-op activity's input and result: only its size matters."""

    result_bytes: int = 0
    padding: str = ""


def padding(size: int) -> str:
    return "x" * max(0, size - ENVELOPE_BYTES)


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
        if call.local:
            return await workflow.execute_local_activity(
                noop,
                argument,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        return await workflow.execute_activity(
            noop,
            argument,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )


def _size(payloads: Sequence[object]) -> int:
    return sum(payload.ByteSize() for payload in payloads)  # type: ignore[attr-defined]


def plan_from_history(events: Sequence[HistoryEvent]) -> LifecyclePlan:
    """The lifecycle of a real consultation as updates and the activities each caused.

    An activity scheduled (or a local activity recorded) while an update is open, and done
    before the update answers, is awaited by it; one still running when the update answers,
    or scheduled after and before the next update, runs in the background of that update.
    Activities before the first update is accepted belong to it.
    """
    plan = LifecyclePlan(steps=[])
    pending: list[ActivityCall] = []  # before the first update is accepted
    open_step: Step | None = None
    last_step: Step | None = None
    scheduled: dict[int, ActivityCall] = {}
    in_flight: set[int] = set()  # ids of scheduled, not yet completed activity calls

    def place(call: ActivityCall) -> None:
        if open_step is not None:
            open_step.awaited.append(call)
        elif last_step is not None:
            last_step.background.append(call)
        else:
            pending.append(call)

    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.workflow_execution_started_event_attributes
            plan.start_input_bytes = _size(started.input.payloads)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            open_step = Step(
                update=request.input.name,
                input_bytes=_size(request.input.args.payloads),
                awaited=pending,
            )
            pending = []
            plan.steps.append(open_step)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            if open_step is not None:
                open_step.result_bytes = _size(outcome.success.payloads)
                # Scheduled in the task that answered the update: not awaited by it.
                running = [call for call in open_step.awaited if id(call) in in_flight]
                open_step.awaited = [c for c in open_step.awaited if id(c) not in in_flight]
                open_step.background.extend(running)
            last_step, open_step = open_step, None
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            call = ActivityCall(
                local=False, input_bytes=_size(attributes.input.payloads), result_bytes=0
            )
            scheduled[event.event_id] = call
            in_flight.add(id(call))
            place(call)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in scheduled:
                call = scheduled[completed.scheduled_event_id]
                call.result_bytes = _size(completed.result.payloads)
                in_flight.discard(id(call))
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                data = marker.details["data"].payloads if "data" in marker.details else []
                # The input of a local activity is not in history: take the result's size.
                place(ActivityCall(local=True, input_bytes=_size(data), result_bytes=_size(data)))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = event.workflow_execution_completed_event_attributes.result
            plan.result_bytes = _size(result.payloads)
    return plan
