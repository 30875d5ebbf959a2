"""Commands to the consultation workflow as Temporal updates, and their refusals as HTTP answers.

Updates have validators, so a refused command is answered before anything is written. Every
command waits at most COMMAND_TAKEN_WITHIN for the workflow's answer: with no worker running
it answers 503 instead of hanging. A command sent with an update id (derived from its
Idempotency-Key) is applied once however often it is sent: the server answers a repeated
update id with the first one's outcome, even after the workflow has completed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from api.outages import COMMANDS_NOT_TAKEN, TEMPORAL, DependencyUnavailableError, retry_later
from api.problems import Problem, refused
from domain.models import ConsultationStart, ConsultationView, Refusal, consultation_workflow_id
from infra.settings import Settings
from infra.temporal import connect
from infra.temporal_access import refused_setting
from workflows.econsultation import EConsultation

log = logging.getLogger("econsult.api")

Command = TypeVar("Command")
# A command's update on the case's workflow (`EConsultation.submit`, ...): answered by the view.
CaseUpdate = UpdateMethodMultiParam[[EConsultation, Command], ConsultationView]

# How long a command waits for the workflow's answer before it is answered 503.
COMMAND_TAKEN_WITHIN = timedelta(seconds=10)

_STATUS_OF_REFUSAL = {
    Refusal.INVALID_TRANSITION: 409,
    Refusal.NOT_A_PARTY: 404,
    Refusal.COPAYMENT_NOT_ACCEPTED: 422,
    Refusal.CLINICIAN_UNAVAILABLE: 422,
    Refusal.RECIPIENT_NOT_ALLOWED: 422,
    Refusal.NO_RELATION: 422,
    Refusal.REPRESENTATIVE_NOT_ALLOWED: 422,
    Refusal.UNKNOWN_ATTACHMENT: 422,
    Refusal.EXEMPTION_NOT_ALLOWED: 422,
    # The server's answer when the case finished while the update was in flight.
    "AcceptedUpdateCompletedWorkflow": 409,
}


class TemporalConnection:
    """The API's Temporal client, connected on first use so the API starts without Temporal."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        async with asyncio.timeout(COMMAND_TAKEN_WITHIN.total_seconds()):
                            self._client = await connect(self._settings)
                    except (RuntimeError, RPCError, TimeoutError) as error:
                        # A refused handshake or key names its setting in the outage's log
                        # line and in /readyz; the next command tries again.
                        refusal = refused_setting(error, self._settings)
                        raise DependencyUnavailableError(TEMPORAL) from (refusal or error)
        return self._client


def _refusal(cause: BaseException) -> Problem:
    if isinstance(cause, ApplicationError) and cause.type in _STATUS_OF_REFUSAL:
        status = _STATUS_OF_REFUSAL[cause.type]
        if status == 404:
            return Problem(404, "consultation not found")
        if status == 409:
            return Problem(409, cause.message, kind="invalid-transition")
        # Titled as the API's own refusals: the workflow judged the same rules again.
        return refused(cause.message)
    log.error("update failed unexpectedly", exc_info=cause)
    return Problem(500, "the consultation could not process the command")


@asynccontextmanager
async def refusals_as_problems(command: str) -> AsyncIterator[None]:
    """Translate what Temporal answers into HTTP answers; wait at most COMMAND_TAKEN_WITHIN."""
    try:
        async with asyncio.timeout(COMMAND_TAKEN_WITHIN.total_seconds()):
            yield
    except WorkflowUpdateFailedError as error:
        raise _refusal(error.cause) from error
    except WorkflowAlreadyStartedError as error:
        raise Problem(
            409, "this consultation has finished and cannot be started again", kind="closed"
        ) from error
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as error:
        COMMANDS_NOT_TAKEN.labels(command).inc()
        raise retry_later(
            "the consultation did not take the command in time; retry with the same "
            "Idempotency-Key, which applies it at most once",
            kind="command-not-taken",
        ) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            # Callers check the case exists first: a missing run is one that has completed.
            raise Problem(
                409,
                "the consultation is closed and takes no more messages or commands",
                kind="closed",
            ) from error
        if error.status == RPCStatusCode.ALREADY_EXISTS:
            raise Problem(409, "this consultation has already finished", kind="closed") from error
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise DependencyUnavailableError(TEMPORAL) from error
        if error.status == RPCStatusCode.FAILED_PRECONDITION:
            # "Workflow Task in failed state": a workflow task timed out or failed (a worker
            # died or was overloaded) and is being retried; the command was not taken.
            COMMANDS_NOT_TAKEN.labels(command).inc()
            raise retry_later(
                "the consultation is catching up after a failed step; retry with the same "
                "Idempotency-Key, which applies it at most once",
                kind="command-not-taken",
            ) from error
        raise


def _name_of(update: Callable[..., object]) -> str:
    """An update's name: each is named after its workflow method (`@workflow.update` bare)."""
    return update.__name__


class ConsultationCommands:
    """Starts a case and sends it commands, each answered by the workflow's view.

    Updates are called by method reference, so the workflow's types reach the caller: the
    view comes back typed from the workflow's data converter, with nothing to re-validate.
    """

    def __init__(self, temporal: TemporalConnection, task_queue: str) -> None:
        self._temporal = temporal
        self._task_queue = task_queue

    async def open(
        self, start: ConsultationStart, update_id: str | None = None
    ) -> ConsultationView:
        """Start the case (or join the one already started for this id) and wait until stored."""
        client = await self._temporal.client()
        async with refusals_as_problems("opened"):
            return await client.execute_update_with_start_workflow(
                EConsultation.opened,
                start_workflow_operation=WithStartWorkflowOperation(
                    EConsultation.run,
                    start,
                    id=consultation_workflow_id(start.consultation_id),
                    task_queue=self._task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    # A finished case is never started a second time under the same id.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                ),
                id=update_id,
                rpc_timeout=COMMAND_TAKEN_WITHIN,
            )

    async def send(
        self,
        consultation_id: str,
        update: CaseUpdate[Command],
        command: Command,
        update_id: str | None = None,
    ) -> ConsultationView:
        """Send `command` to the case as `update`; the case's view after it, or its refusal."""
        client = await self._temporal.client()
        handle: WorkflowHandle[EConsultation, ConsultationView] = client.get_workflow_handle_for(
            EConsultation.run, consultation_workflow_id(consultation_id)
        )
        async with refusals_as_problems(_name_of(update)):
            return await handle.execute_update(
                update, command, id=update_id, rpc_timeout=COMMAND_TAKEN_WITHIN
            )
