"""Reassign through Temporal: as a signal and as an update, with refusals before history."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.models import (
    ConsultationView,
    CopaymentStatus,
    ReassignCommand,
    Refusal,
    ReplyCommand,
    Role,
    Status,
)
from store.tables import Charge
from tests.api.support import eventually
from tests.support import (
    CLINICIAN,
    SUBSTITUTE,
    content,
    new_start,
    start,
)
from tests.workflows.test_refusals import refusal_type, task_queue
from workflows.econsultation import EConsultation

__all__ = ["task_queue"]  # the module's worker, shared with the refusal tests


def _to(recipient: str) -> ReassignCommand:
    return ReassignCommand(recipient_id=recipient, reason="Dr. Fastlege is ill.", by="ops")


async def test_a_reassign_signal_moves_the_case_and_keeps_the_deadline(
    dev_env: WorkflowEnvironment, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    handle = await start(dev_env.client, task_queue, new_start())
    before = await handle.execute_update(EConsultation.opened)

    await handle.signal(EConsultation.reassign_signal, _to(SUBSTITUTE))

    async def view() -> ConsultationView:
        return await handle.query(EConsultation.view)

    after = await eventually(view, lambda v: v.recipient_id == SUBSTITUTE)
    assert after.reply_due_at == before.reply_due_at
    with pytest.raises(WorkflowUpdateFailedError) as former:
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
    assert refusal_type(former.value) == Refusal.NOT_A_PARTY
    answered = await handle.execute_update(
        EConsultation.reply,
        ReplyCommand(author_role=Role.CLINICIAN, author_id=SUBSTITUTE, message=content()),
    )
    assert answered.status == Status.AWAITING_PATIENT
    # Settlement runs in the background after the reply answered.
    await eventually(view, lambda v: v.copayment.status != CopaymentStatus.PENDING)
    async with sessions() as session:
        charge = await session.get(Charge, answered.consultation_id)
    assert charge is not None and charge.billed_clinician_id == SUBSTITUTE


async def test_a_reassign_update_is_refused_outside_the_practice_or_before_submit(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    draft = await start(dev_env.client, task_queue, new_start(message=None))
    await draft.execute_update(EConsultation.opened)
    with pytest.raises(WorkflowUpdateFailedError) as not_yet:
        await draft.execute_update(EConsultation.reassign, _to(SUBSTITUTE))
    assert refusal_type(not_yet.value) == Refusal.INVALID_TRANSITION

    handle = await start(dev_env.client, task_queue, new_start())
    await handle.execute_update(EConsultation.opened)
    with pytest.raises(WorkflowUpdateFailedError) as stranger:
        await handle.execute_update(EConsultation.reassign, _to("not-in-the-directory"))
    assert refusal_type(stranger.value) == Refusal.RECIPIENT_NOT_ALLOWED

    moved = await handle.execute_update(EConsultation.reassign, _to(SUBSTITUTE))
    assert moved.recipient_id == SUBSTITUTE
