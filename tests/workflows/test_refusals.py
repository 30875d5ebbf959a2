"""Every refusal in the spec: a clear reason, and nothing stored, journaled, sent or billed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.models import (
    CloseCommand,
    Refusal,
    ReplyCommand,
    Role,
    Status,
    SubmitCommand,
    WithdrawCommand,
    consultation_workflow_id,
)
from tests.support import (
    CLINICIAN,
    case_row,
    content,
    effects,
    effects_when_quiet,
    new_start,
    start,
)
from tests.workflows.support import seeded_worker
from workflows.econsultation import EConsultation


@pytest.fixture(scope="module")
async def task_queue(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[str]:
    async with seeded_worker(dev_env, sqlite_url, sessions) as task_queue:
        yield task_queue


def refusal_type(error: BaseException) -> str | None:
    # An update's failure chains its cause; a workflow's or activity's failure carries it.
    cause = (
        error.__cause__
        if isinstance(error, WorkflowUpdateFailedError)
        else getattr(error, "cause", None)
    )
    return cause.type if isinstance(cause, ApplicationError) else None


def clinician_reply(body: str = "Use the cream twice a day.") -> ReplyCommand:
    return ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content(body))


async def test_a_reply_after_close_is_refused_and_leaves_nothing(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(dev_env.client, task_queue, case)
    await handle.execute_update(EConsultation.reply, clinician_reply())
    await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
    assert (await handle.result()).status == Status.CLOSED
    before = await effects_when_quiet(sessions, case.consultation_id)

    with pytest.raises(RPCError) as refused:
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.PATIENT, author_id=case.patient.id, message=content()),
        )
    with pytest.raises(RPCError):
        await handle.signal(EConsultation.reply_signal, clinician_reply("late"))

    assert refused.value.status == RPCStatusCode.NOT_FOUND
    assert await effects_when_quiet(sessions, case.consultation_id) == before


async def test_a_patient_reply_while_awaiting_the_clinician_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(dev_env.client, task_queue, case)
    await handle.execute_update(EConsultation.opened)
    before = await effects_when_quiet(sessions, case.consultation_id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.PATIENT, author_id=case.patient.id, message=content()),
        )

    assert refusal_type(refused.value) == Refusal.INVALID_TRANSITION
    assert await effects_when_quiet(sessions, case.consultation_id) == before


async def test_withdraw_after_a_clinician_reply_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(dev_env.client, task_queue, case)
    await handle.execute_update(EConsultation.reply, clinician_reply())
    before = await effects_when_quiet(sessions, case.consultation_id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            EConsultation.withdraw, WithdrawCommand(patient_id=case.patient.id)
        )
    await handle.signal(EConsultation.withdraw_signal, WithdrawCommand(patient_id=case.patient.id))
    view = await handle.execute_update(EConsultation.opened)

    assert refusal_type(refused.value) == Refusal.INVALID_TRANSITION
    assert view.status == Status.AWAITING_PATIENT
    assert await effects_when_quiet(sessions, case.consultation_id) == before


async def test_submit_twice_is_refused_the_second_time(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start(message=None)
    handle = await start(dev_env.client, task_queue, case)
    await handle.execute_update(EConsultation.submit, SubmitCommand(message=content()))
    before = await effects_when_quiet(sessions, case.consultation_id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(EConsultation.submit, SubmitCommand(message=content("again")))

    assert refusal_type(refused.value) == Refusal.INVALID_TRANSITION
    assert before == {"messages": 1, "journal": 1, "notifications": 1, "charges": 0}
    assert await effects_when_quiet(sessions, case.consultation_id) == before


async def test_the_same_message_delivered_twice_is_stored_once(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(dev_env.client, task_queue, case)
    # Not billable: no settlement commits between the two, so the revision shows any change.
    reply = clinician_reply().model_copy(
        update={"message_id": "retried-reply-1", "billable": False}
    )

    first = await handle.execute_update(EConsultation.reply, reply)
    second = await handle.execute_update(EConsultation.reply, reply)

    assert first.revision == second.revision
    assert (await effects(sessions, case.consultation_id))["messages"] == 2


async def test_a_start_without_copayment_acceptance_is_refused_and_leaves_nothing(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start(copayment_accepted=False)
    handle = await start(dev_env.client, task_queue, case)

    with pytest.raises(WorkflowFailureError) as refused:
        await handle.result()

    assert refusal_type(refused.value) == Refusal.COPAYMENT_NOT_ACCEPTED
    assert await case_row(sessions, case.consultation_id) is None
    assert await effects(sessions, case.consultation_id) == {
        "messages": 0,
        "journal": 0,
        "notifications": 0,
        "charges": 0,
    }


async def test_a_start_to_a_clinician_without_a_relation_to_the_patient_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start(clinician_id="unknown-clinician", recipient_id="unknown-clinician")
    handle = await start(dev_env.client, task_queue, case)

    with pytest.raises(WorkflowFailureError) as refused:
        await handle.result()

    assert refusal_type(refused.value) == Refusal.NO_RELATION
    assert await case_row(sessions, case.consultation_id) is None


async def test_a_close_by_another_clinician_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    handle = await start(dev_env.client, task_queue, case)
    await handle.execute_update(EConsultation.opened)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(EConsultation.close, CloseCommand(clinician_id="someone-else"))

    assert refusal_type(refused.value) == Refusal.NOT_A_PARTY
    assert (await handle.query(EConsultation.view)).status == Status.AWAITING_CLINICIAN


async def test_a_refused_start_answers_the_waiting_opened_update_with_its_refusal(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    case = new_start(copayment_accepted=False)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await dev_env.client.execute_update_with_start_workflow(
            EConsultation.opened,
            start_workflow_operation=WithStartWorkflowOperation(
                EConsultation.run,
                case,
                id=consultation_workflow_id(case.consultation_id),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            ),
        )

    assert refusal_type(refused.value) == Refusal.COPAYMENT_NOT_ACCEPTED
