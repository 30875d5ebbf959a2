"""The transactional outbox through a real worker on the time-skipping server: a command's
notification is queued by the transaction that commits its event, a timer's event too."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.effects import NotificationEvent, NotificationInput
from domain.models import Status
from store.outbox import Outbox, OutboxState
from tests.support import new_start, notifications, start
from tests.workflows.support import seeded_worker
from workflows.econsultation import EConsultation


@dataclass
class Sender:
    """What reached the sender: each notification's event and whether its event queued it."""

    received: dict[NotificationEvent, bool] = field(default_factory=dict)

    async def send(self, notification: NotificationInput) -> None:
        self.received[notification.event] = notification.queued


async def test_every_notification_is_queued_by_the_commit_of_its_event_command_or_timer(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sender = Sender()
    async with seeded_worker(env, sqlite_url, sessions, sender=sender) as task_queue:
        case = new_start()
        handle = await start(env.client, task_queue, case)
        # Past the reminder, the deadline and the late notice: three timer events, each notifying.
        await env.sleep(timedelta(days=10))
        assert (await handle.query(EConsultation.view)).overdue
        assert (await handle.query(EConsultation.view)).status == Status.AWAITING_CLINICIAN

    assert sender.received == {
        NotificationEvent.NEW_MESSAGE: True,
        NotificationEvent.REMINDER: True,
        NotificationEvent.OVERDUE: True,
        NotificationEvent.ANSWER_LATE: True,
    }
    rows = await notifications(sessions, case.consultation_id)
    assert len(rows) == 4
    outbox = Outbox(sessions)
    for row in rows:
        assert await outbox.settled(row.notification_key) == OutboxState(True, None)
