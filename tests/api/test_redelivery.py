"""Redelivery over HTTP: what a receiver refused for good (a final 4xx) is sent again, once
per operator request, after the receiver is fixed, under the same key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.effects import NotificationInput
from store.tables import JournalEntry, Notification
from tests.api.integrated import Delivering, api_delivering
from tests.api.support import (
    Party,
    api_over_http,
    assert_problem,
    eventually,
    open_case,
)
from tests.support import notifications, rows_of, time_skipping_environment
from workflows.calls import NOTIFY_GIVES_UP_AFTER


@pytest.fixture(scope="module")
async def delivering(dev_env: WorkflowEnvironment, postgres_url: str) -> AsyncIterator[Delivering]:
    async with api_delivering(dev_env.client, postgres_url) as api:
        yield api


async def _refused_notification(api: Delivering, party: Party) -> Notification:
    """A submitted case whose notification (new message) the practice's receiver refused."""
    api.receiver.status = 400
    try:
        case_id = await open_case(api, party)

        async def rows() -> list[Notification]:
            return await notifications(api.sessions, case_id)

        (row,) = await eventually(rows, lambda found: bool(found and found[0].failed_status))
        assert row.failed_status == 400, "the receiver refused it for good"
        return row
    finally:
        api.receiver.status = 204


async def _notification(api: Delivering, key: str) -> Notification:
    return await _notification_of(api.sessions, key)


def _arrived(api: Delivering, key: str) -> int:
    return api.receiver.ids().count(key)


async def _delivered(api: Delivering, key: str) -> Notification:
    async def row() -> Notification:
        return await _notification(api, key)

    found = await eventually(row, lambda got: got.sent_at is not None, within=60)
    assert found.sent_at is not None, "the redelivered notification arrived"
    return found


async def test_a_refused_notification_is_redelivered_once_after_the_receiver_is_fixed(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    row = await _refused_notification(delivering, party)
    key = row.notification_key
    refused_deliveries = _arrived(delivering, key)

    started = await delivering.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)

    assert started.status_code == 202, started.text
    assert started.json()["redelivery"] == 1
    delivered = await _delivered(delivering, key)
    assert (delivered.failed_status, delivered.redeliveries) == (None, 1)
    assert _arrived(delivering, key) == refused_deliveries + 1
    again = await delivering.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)
    assert "delivered" in assert_problem(again, 409)["detail"]
    await asyncio.sleep(0.5)
    assert _arrived(delivering, key) == refused_deliveries + 1


async def test_requests_at_once_start_one_redelivery(delivering: Delivering) -> None:
    party = delivering.party()
    key = (await _refused_notification(delivering, party)).notification_key
    before = _arrived(delivering, key)

    answers = await asyncio.gather(
        *[
            delivering.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)
            for _ in range(3)
        ]
    )

    assert sorted(a.status_code for a in answers) == [202, 409, 409]
    await _delivered(delivering, key)
    await asyncio.sleep(0.5)
    assert _arrived(delivering, key) == before + 1


async def test_a_receiver_still_refusing_leaves_it_refused_for_the_next_request(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    key = (await _refused_notification(delivering, party)).notification_key
    delivering.receiver.status = 400
    try:
        first = await delivering.http.post(
            f"/v1/notifications/{key}/redeliver", headers=party.admin
        )
        assert first.status_code == 202, first.text

        async def row() -> Notification:
            return await _notification(delivering, key)

        refused = await eventually(
            row, lambda got: got.redeliveries == 1 and got.failed_status is not None
        )
        assert refused.failed_status == 400
    finally:
        delivering.receiver.status = 204

    second = await delivering.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)

    assert second.status_code == 202, second.text
    assert second.json()["redelivery"] == 2
    assert (await _delivered(delivering, key)).redeliveries == 2


async def test_a_refused_journal_entry_is_redelivered_once_with_the_same_identifier(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    delivering.fhir.refuse_with = 400
    try:
        case_id = await open_case(delivering, party)

        async def entries() -> list[JournalEntry]:
            return await rows_of(delivering.sessions, JournalEntry, case_id)

        (entry,) = await eventually(entries, lambda rows: bool(rows and rows[0].external_status))
        assert entry.external_status == 400
    finally:
        delivering.fhir.refuse_with = None
    identifier = f"{delivering.settings.fhir_entry_system}|{entry.entry_key}"
    posted_before = delivering.fhir.posts.count(f"identifier={identifier}")

    started = await delivering.http.post(
        f"/v1/journal-entries/{entry.entry_key}/redeliver", headers=party.admin
    )

    assert started.status_code == 202, started.text

    async def forwarded() -> list[JournalEntry]:
        return await rows_of(delivering.sessions, JournalEntry, case_id)

    (entry,) = await eventually(forwarded, lambda rows: rows[0].external_status == 201, within=60)
    assert entry.external_id and entry.redeliveries == 1
    assert delivering.fhir.resources[identifier]["id"] == entry.external_id
    assert delivering.fhir.posts.count(f"identifier={identifier}") == posted_before + 1
    again = await delivering.http.post(
        f"/v1/journal-entries/{entry.entry_key}/redeliver", headers=party.admin
    )
    assert_problem(again, 409)


async def test_an_item_still_being_delivered_is_409_and_an_unknown_one_404(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    case_id = await open_case(delivering, party)
    # Journaled before the create answers; being forwarded, or delivered: never refused.
    (entry,) = await rows_of(delivering.sessions, JournalEntry, case_id)

    pending_or_delivered = await delivering.http.post(
        f"/v1/journal-entries/{entry.entry_key}/redeliver", headers=party.admin
    )
    unknown_notification = await delivering.http.post(
        "/v1/notifications/no-such-key/redeliver", headers=party.admin
    )
    unknown_entry = await delivering.http.post(
        "/v1/journal-entries/no-such-key/redeliver", headers=party.admin
    )

    assert_problem(pending_or_delivered, 409)
    assert_problem(unknown_notification, 404)
    assert_problem(unknown_entry, 404)


async def test_only_an_admin_may_redeliver(delivering: Delivering) -> None:
    party = delivering.party()
    callers: list[dict[str, Any]] = [party.service, party.doctor, party.practice_admin()]
    for headers in callers:
        for path in ("/v1/notifications/k/redeliver", "/v1/journal-entries/k/redeliver"):
            assert_problem(await delivering.http.post(path, headers=headers), 403)


@dataclass
class GatewayDown:
    """A notification gateway that does not answer until it is brought back up."""

    up: bool = False
    delivered: list[str] = field(default_factory=list)

    async def send(self, notification: NotificationInput) -> None:
        if not self.up:
            raise ConnectionError("the gateway does not answer")
        self.delivered.append(notification.notification_key)


async def test_a_notification_given_up_on_after_a_week_is_redelivered_once(
    sqlite_url: str,
) -> None:
    gateway = GatewayDown()
    async with (
        time_skipping_environment() as env,
        api_over_http(env.client, sqlite_url, sender=gateway) as api,
    ):
        party = api.party()
        case_id = await open_case(api, party)
        (row,) = await notifications(api.sessions, case_id)
        key = row.notification_key
        retried = await api.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)
        # A week of retries (5 s backoff up to 10 min), then the workflow gives up.
        await env.sleep(NOTIFY_GIVES_UP_AFTER + timedelta(hours=1))
        given_up = await eventually(
            lambda: _notification_of(api.sessions, key), lambda got: got.failed_at is not None
        )
        gateway.up = True

        started = await api.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)
        delivered = await eventually(
            lambda: _notification_of(api.sessions, key), lambda got: got.sent_at is not None
        )
        again = await api.http.post(f"/v1/notifications/{key}/redeliver", headers=party.admin)

    assert "still being delivered" in assert_problem(retried, 409)["detail"]
    assert (given_up.sent_at, given_up.failed_status) == (None, None)
    assert started.status_code == 202, started.text
    assert (delivered.redeliveries, delivered.failed_at) == (1, None)
    assert gateway.delivered.count(key) == 1
    assert "delivered" in assert_problem(again, 409)["detail"]


async def _notification_of(sessions: async_sessionmaker[AsyncSession], key: str) -> Notification:
    async with sessions() as session:
        row = await session.scalar(select(Notification).where(Notification.notification_key == key))
    assert row is not None
    return row
