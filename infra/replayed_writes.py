"""What a consultation's workflow wrote to the case store, recovered from its history.

A local activity's marker in history holds its result, not its input: the input (the case row,
the message, the journal entries) was only ever in the worker's memory. It is rebuilt the way
the worker built it the first time: the history is replayed through the workflow's own code,
which computes each input again from what history does hold (the start's input, every
update's and signal's arguments, the times of its tasks, the other activities' results), and
each local activity call is taken down as the replay makes it. Only calls whose marker is in
history are kept: those are the writes that happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from workflows.econsultation import EConsultation


@dataclass(frozen=True)
class RecordedWrite:
    """One completed local activity of the workflow: its name, its argument and its result."""

    activity: str
    argument: Any
    result: Any


class _TakeDownLocalActivities(Interceptor):
    def __init__(self) -> None:
        self.writes: list[RecordedWrite] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        writes = self.writes

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
                handle = super().start_local_activity(input)
                argument = input.args[0] if input.args else None

                def completed(done: ActivityHandle[Any]) -> None:
                    # In the order their markers resolve: the order they were written in.
                    if not done.cancelled() and done.exception() is None:
                        writes.append(RecordedWrite(input.activity, argument, done.result()))

                handle.add_done_callback(completed)
                return handle

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def recorded_writes(
    histories: Sequence[WorkflowHistory], data_converter: DataConverter
) -> list[RecordedWrite]:
    """Every completed case-store write of these runs (one consultation's, oldest run first)."""
    writes: list[RecordedWrite] = []
    for history in histories:
        taken = _TakeDownLocalActivities()
        replayer = Replayer(
            workflows=[EConsultation],
            # Unsandboxed as the worker runs it: the interceptor's list lives outside the replay.
            workflow_runner=UnsandboxedWorkflowRunner(),
            data_converter=data_converter,
            interceptors=[taken],
        )
        await replayer.replay_workflow(history)
        writes.extend(taken.writes)
    return writes
