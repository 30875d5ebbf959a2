"""The lifecycle BenchSkeleton replays: updates and their activities, read from a history.

`plan_from_history` reads EConsultation's message pattern from the history of a real
consultation the benchmark has just driven through the API, so the skeleton follows any
change to it (an activity added or dropped, or moved to a local activity) on the next run.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

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
