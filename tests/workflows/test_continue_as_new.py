"""A long thread continues as new without losing a message, a deadline or a pending signal."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import CloseCommand, ReplyCommand, Role, Status
from tests.support import (
    CLINICIAN,
    content,
    effects,
    new_start,
    start,
)
from tests.workflows.support import seeded_worker
from workflows.econsultation import EConsultation

ROUNDS = 5


async def test_a_long_thread_continues_as_new_and_keeps_every_message_and_deadline(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start(messages_per_run=2)
    async with seeded_worker(dev_env, sqlite_url, sessions) as task_queue:
        handle = await start(dev_env.client, task_queue, case)
        first_run = (await handle.describe()).run_id
        for round_ in range(ROUNDS):
            await handle.execute_update(
                EConsultation.reply,
                ReplyCommand(
                    author_role=Role.CLINICIAN,
                    author_id=CLINICIAN,
                    message=content(f"answer {round_}"),
                ),
            )
            view = await handle.execute_update(
                EConsultation.reply,
                ReplyCommand(
                    author_role=Role.PATIENT,
                    author_id=case.patient.id,
                    message=content(f"follow-up {round_}"),
                ),
            )
            assert view.reply_due_at is not None
        due_before = view.reply_due_at
        # Two signals back to back: the first rolls the run over, the second waits for it.
        await handle.signal(
            EConsultation.reply_signal,
            ReplyCommand(
                author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content("last answer")
            ),
        )
        await handle.signal(
            EConsultation.close_signal,
            CloseCommand(clinician_id=CLINICIAN, message=content("closing words")),
        )
        result = await handle.result()
        last_run = (await handle.describe()).run_id

    assert last_run != first_run
    assert due_before is not None
    assert result.status == Status.CLOSED
    expected_messages = 1 + 2 * ROUNDS + 2
    assert result.message_count == expected_messages
    assert await effects(sessions, case.consultation_id) == {
        "messages": expected_messages,
        "journal": expected_messages + 1,
        # One per message event, the close, and the settled co-payment.
        "notifications": 1 + 2 * ROUNDS + 2 + 1,
        "charges": 1,
    }
