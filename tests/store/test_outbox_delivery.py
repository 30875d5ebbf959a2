"""The delivery of a notification whose outbox row its event wrote (a transactional outbox)."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from domain.effects import NotificationInput
from domain.models import Status
from store.case_writes import Consultations
from store.outbox import Outbox, OutboxState
from store.tables import Notification
from tests.store.support import Sessions, record
from tests.store.test_store import new_message_notification
from tests.support import count


@dataclass
class Statements:
    """The SQL the worker's engine sends, as text."""

    sent: list[str] = field(default_factory=list)

    def on(self, table: str) -> list[str]:
        return [sql.split()[0].upper() for sql in self.sent if table in sql]


@dataclass
class Sender:
    sent: list[str] = field(default_factory=list)

    async def send(self, notification: NotificationInput) -> None:
        self.sent.append(notification.notification_key)


@pytest.fixture
def engine(store: Sessions) -> AsyncEngine:
    bound = store.kw["bind"]
    assert isinstance(bound, AsyncEngine)
    return bound


@pytest.fixture
def statements(engine: AsyncEngine) -> Statements:
    seen = Statements()
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_: seen.sent.append(sql),
    )
    return seen


async def _attempt(
    store: Sessions, sender: Sender, notification: NotificationInput, attempt: int = 1
) -> None:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, attempt=attempt)
    activities = NotificationActivities(Outbox(store), sender)
    await environment.run(activities.send_notification, notification)


async def _event_with(store: Sessions, notification: NotificationInput) -> None:
    await Consultations(store).save_with(
        record(notification.consultation_id, 2, Status.AWAITING_CLINICIAN), None, [notification]
    )


async def test_a_first_attempt_sends_without_writing_or_reading_the_row_its_event_wrote(
    store: Sessions, statements: Statements
) -> None:
    notification = new_message_notification(uuid.uuid4().hex, queued=True)
    await _event_with(store, notification)
    sender = Sender()
    statements.sent.clear()

    await _attempt(store, sender, notification)

    assert sender.sent == [notification.notification_key]
    assert statements.on("notifications") == ["UPDATE"]  # marked sent, nothing else
    assert await Outbox(store).settled(notification.notification_key) == OutboxState(
        sent=True, failed_status=None
    )


async def test_a_retried_attempt_asks_the_row_and_never_sends_twice(store: Sessions) -> None:
    notification = new_message_notification(uuid.uuid4().hex, queued=True)
    await _event_with(store, notification)
    sender = Sender()

    await _attempt(store, sender, notification)
    # The worker died after marking it sent, before Temporal heard: the activity runs again.
    await _attempt(store, sender, notification, attempt=2)

    assert sender.sent == [notification.notification_key]


async def test_a_row_lost_with_a_restored_case_store_is_written_again_as_sent(
    store: Sessions,
) -> None:
    """The event's transaction was after the backup; its delivery came after the restore."""
    consultation_id = uuid.uuid4().hex
    await Consultations(store).save(record(consultation_id, 1, Status.DRAFT))
    notification = new_message_notification(consultation_id, queued=True)

    await _attempt(store, Sender(), notification)

    assert await count(store, Notification, consultation_id) == 1
    assert await Outbox(store).settled(notification.notification_key) == OutboxState(
        sent=True, failed_status=None
    )
