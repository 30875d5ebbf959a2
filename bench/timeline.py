"""Where a lifecycle's time goes, read from workflow histories' event times.

Per workflow, summed over its tasks: activity tasks waiting for a worker (scheduled →
started), activities running (started → completed), workflow tasks waiting for a worker,
workflow tasks running (the worker's activation: sandbox, codec, commands), and the time
updates were open (accepted → completed).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

E = EventType
PHASES = (
    "activity_queue_ms",
    "activity_run_ms",
    "workflow_task_queue_ms",
    "workflow_task_run_ms",
    "update_open_ms",
    "workflow_ms",
)


def _ms(later: HistoryEvent, earlier: HistoryEvent) -> float:
    delta = later.event_time.ToDatetime() - earlier.event_time.ToDatetime()
    return delta.total_seconds() * 1000


# The run phase of a task ends with its completion, which counts the task.
_COUNTED = {"activity_run_ms": "activities", "workflow_task_run_ms": "workflow_tasks"}


def _task_span(event: HistoryEvent) -> tuple[str, int] | None:
    """The phase a task event ends and the id of the event that began it, or None."""
    kind = event.event_type
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        return "activity_queue_ms", event.activity_task_started_event_attributes.scheduled_event_id
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        return "activity_run_ms", event.activity_task_completed_event_attributes.started_event_id
    if kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        started = event.workflow_task_started_event_attributes
        return "workflow_task_queue_ms", started.scheduled_event_id
    if kind == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        completed = event.workflow_task_completed_event_attributes
        return "workflow_task_run_ms", completed.started_event_id
    return None


def breakdown(events: Sequence[HistoryEvent]) -> dict[str, float]:
    """Milliseconds per phase for one workflow run, and its counts of tasks."""
    by_id = {event.event_id: event for event in events}
    totals = dict.fromkeys(PHASES, 0.0)
    counts = {"activities": 0, "workflow_tasks": 0, "updates": 0}
    accepted: dict[str, HistoryEvent] = {}
    for event in events:
        kind = event.event_type
        span = _task_span(event)
        if span is not None:
            phase, began = span
            totals[phase] += _ms(event, by_id[began])
            if phase in _COUNTED:
                counts[_COUNTED[phase]] += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            accepted[request.meta.update_id] = event
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
            if update_id in accepted:
                totals["update_open_ms"] += _ms(event, accepted[update_id])
                counts["updates"] += 1
    if events:
        totals["workflow_ms"] = _ms(events[-1], events[0])
    return {**totals, **counts}


def median_breakdown(histories: Iterable[Sequence[HistoryEvent]]) -> dict[str, float]:
    """The median of each phase over several workflows."""
    rows = [breakdown(events) for events in histories]
    if not rows:
        return {}
    return {key: round(statistics.median(row[key] for row in rows), 2) for key in rows[0]}
