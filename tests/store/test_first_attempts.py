"""The commit's first attempts (runs since first-attempt-in-commit), on SQLite and PostgreSQL:
the event's notifications and the frikort register are tried once the transaction is in,
within a bound the commit's own timeout leaves room for; what does not answer is left to the
background activities, with each attempt counted on its outbox row."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.case import FIRST_ATTEMPTS_SECONDS, CaseActivities
from activities.notifications import NotificationDelivery
from domain.effects import Audience, FrikortQuestion, NotificationEvent, NotificationInput
from domain.events import Committed, Event
from domain.models import Status
from store.case_writes import Consultations
from store.directory import Directory
from store.outbox import Outbox
from store.tables import Notification
from tests.store.support import NOW, Sessions, record


class Receivers:
    """A notification gateway and a frikort register, answering at once or never."""

    def __init__(self, *, answer: bool) -> None:
        self.answer = answer
        self.sent: list[str] = []

    async def send(self, notification: NotificationInput) -> None:
        if not self.answer:
            await asyncio.Event().wait()
        self.sent.append(notification.notification_key)

    async def holds_frikort(self, patient_id: str, on_day: date) -> bool:
        if not self.answer:
            await asyncio.Event().wait()
        return True


def event_telling(consultation_id: str, audiences: list[Audience]) -> Event:
    notes = [
        NotificationInput(
            notification_key=f"{consultation_id}:1:reply_available:{audience.value}",
            consultation_id=consultation_id,
            audience=audience,
            event=NotificationEvent.REPLY_AVAILABLE,
            occurred_at=NOW,
            queued=True,
        )
        for audience in audiences
    ]
    question = FrikortQuestion(patient_id="patient-1", on_day=NOW.date())
    return Event(
        record=record(consultation_id, 1, Status.AWAITING_PATIENT),
        notifications=notes,
        first_attempt=True,
        ask_frikort=question,
    )


async def committed_with(
    store: Sessions, receivers: Receivers, event: Event
) -> tuple[Committed, float]:
    case = CaseActivities(
        Directory(store),
        Consultations(store),
        delivery=NotificationDelivery(Outbox(store), receivers),
        frikort_register=receivers,
    )
    started = time.monotonic()
    committed = await ActivityEnvironment().run(case.commit, event)
    return committed, time.monotonic() - started


async def rows(store: Sessions, consultation_id: str) -> list[Notification]:
    async with store() as session:
        found = await session.scalars(
            select(Notification).where(Notification.consultation_id == consultation_id)
        )
        return list(found)


async def test_receivers_that_answer_are_done_with_in_the_commit(store: Sessions) -> None:
    cid, receivers = uuid.uuid4().hex, Receivers(answer=True)
    event = event_telling(cid, [Audience.PATIENT, Audience.CLINICIAN])

    committed, _ = await committed_with(store, receivers, event)

    keys = [note.notification_key for note in event.notifications]
    assert committed.notified == keys == receivers.sent
    assert committed.frikort is True
    assert all(row.sent_at is not None and row.attempts == 1 for row in await rows(store, cid))


async def test_receivers_that_never_answer_hold_the_commit_no_longer_than_its_bound(
    store: Sessions,
) -> None:
    cid = uuid.uuid4().hex
    event = event_telling(cid, [Audience.PATIENT, Audience.CLINICIAN, Audience.PRACTICE])

    committed, took = await committed_with(store, Receivers(answer=False), event)

    assert committed.notified == [] and committed.frikort is None
    assert took < FIRST_ATTEMPTS_SECONDS + 1
    # Tried until the bound (2 s each): counted, unsent, left to the delivery activity.
    assert sorted(row.attempts for row in await rows(store, cid)) == [0, 1, 1]
    assert all(row.sent_at is None for row in await rows(store, cid))
