"""Notifications reach the portal and practice systems as signed Standard Webhooks.

A real Temporal dev server, an in-process worker whose settings name the endpoints, and a
real HTTP receiver that verifies each delivery with the standardwebhooks library.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.notifications import NOTIFICATION_REFUSED
from activities.webhooks import WebhookEndpoint
from dev.harness.ports import free_port, serving
from domain.models import CloseCommand, ReplyCommand, Role, Status
from infra.settings import Settings
from store.tables import Notification
from tests.integrations.receivers import (
    WebhookReceiver,
    eventually,
    new_secret,
    webhook_settings,
    worker_notifying,
    worker_with,
)
from tests.support import (
    CLINICIAN,
    content,
    new_start,
    notifications,
    seeded_store,
    start,
)
from workflows.econsultation import EConsultation


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with seeded_store(sqlite_url) as sessions:
        yield sessions


async def settled_rows(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str, expected: int
) -> list[Notification]:
    async def all_settled() -> bool:
        rows = await notifications(sessions, consultation_id)
        done = [r for r in rows if r.sent_at is not None or r.failed_status is not None]
        return len(rows) == expected and len(done) == expected

    await eventually(all_settled, f"{expected} notifications settled")
    return await notifications(sessions, consultation_id)


def clinician_reply(body: str, **options: Any) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content(body), **options
    )


async def test_every_event_of_a_lifecycle_arrives_once_signed_with_the_notification_key(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receiver = WebhookReceiver([new_secret()])
    async with worker_notifying(dev_env.client, sqlite_url, receiver) as queue:
        case = new_start()
        handle = await start(dev_env.client, queue, case)
        await handle.execute_update(EConsultation.reply, clinician_reply("Answer."))
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(
                author_role=Role.PATIENT, author_id=case.patient.id, message=content("More.")
            ),
        )
        await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
        assert (await handle.result()).status == Status.CLOSED
        rows = await settled_rows(sessions, case.consultation_id, 5)

    assert sorted(receiver.ids()) == sorted(row.notification_key for row in rows)
    assert all(delivery.verified for delivery in receiver.deliveries)
    by_key = {d.headers["webhook-id"]: d for d in receiver.deliveries}
    for row in rows:
        delivery = by_key[row.notification_key]
        expected_path = "/portal" if row.audience == "patient" else "/practice"
        assert delivery.path == expected_path
        body = json.loads(delivery.body)
        assert body["type"] == f"econsult.{row.event}"
        assert body["data"]["consultation_id"] == case.consultation_id
        assert row.attempts == 1
    # Background deliveries may overtake each other; each event arrives once all the same.
    assert sorted(json.loads(d.body)["data"]["event"] for d in receiver.deliveries) == [
        "closed",
        "copayment_settled",
        "new_message",
        "new_message",
        "reply_available",
    ]
    assert all(case.patient.id not in d.body for d in receiver.deliveries)


async def test_a_receiver_down_then_up_gets_each_notification_once_with_attempts_recorded(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    secret = new_secret()
    receiver = WebhookReceiver([secret])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = webhook_settings(base_url, secret)
    async with worker_with(dev_env.client, sqlite_url, **settings) as queue:
        case = new_start()
        await start(dev_env.client, queue, case)

        async def refused_once() -> bool:
            rows = await notifications(sessions, case.consultation_id)
            return bool(rows) and rows[0].attempts >= 1

        await eventually(refused_once, "a failed attempt on the unreachable receiver")
        (row,) = await notifications(sessions, case.consultation_id)
        assert row.sent_at is None
        async with serving(receiver.app(), port):
            (row,) = await settled_rows(sessions, case.consultation_id, 1)

    assert receiver.ids() == [row.notification_key]
    assert receiver.deliveries[0].verified
    assert row.sent_at is not None and row.failed_status is None
    assert row.attempts >= 2


async def test_a_final_refusal_marks_the_row_failed_without_retries(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receiver = WebhookReceiver([new_secret()], status=400)
    async with worker_notifying(dev_env.client, sqlite_url, receiver) as queue:
        case = new_start()
        handle = await start(dev_env.client, queue, case)
        (row,) = await settled_rows(sessions, case.consultation_id, 1)

        async def failure_recorded() -> bool:
            history = await handle.fetch_history()
            return any(
                e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED for e in history.events
            )

        await eventually(failure_recorded, "the notification activity failed")
        history = await handle.fetch_history()
        delivered_ids = receiver.ids()
        # The consultation itself goes on: the clinician still answers.
        view = await handle.execute_update(EConsultation.reply, clinician_reply("Answer."))
        assert view.status == Status.AWAITING_PATIENT

    assert row.failed_status == 400 and row.failed_at is not None and row.sent_at is None
    assert row.attempts == 1
    assert delivered_ids == [row.notification_key]
    failed = [
        e.activity_task_failed_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert len(failed) == 1
    assert failed[0].failure.application_failure_info.type == NOTIFICATION_REFUSED
    assert failed[0].failure.application_failure_info.non_retryable
    notify_scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "send_notification"
    }
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in notify_scheduled
    ]
    assert started == [1]


async def test_during_a_secret_rotation_receivers_on_the_old_or_the_new_secret_both_verify(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old, new = new_secret(), new_secret()
    receiver = WebhookReceiver([old])
    async with (
        serving(receiver.app()) as base_url,
        worker_with(
            dev_env.client, sqlite_url, **webhook_settings(base_url, f"{new},{old}")
        ) as queue,
    ):
        case = new_start()
        await start(dev_env.client, queue, case)
        await settled_rows(sessions, case.consultation_id, 1)

    (delivery,) = receiver.deliveries
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert receiver.verifies(delivery.body, delivery.headers, secret=old)
    assert receiver.verifies(delivery.body, delivery.headers, secret=new)
    assert not receiver.verifies(delivery.body, delivery.headers, secret=new_secret())


def test_an_endpoint_without_its_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_PORTAL_SECRETS"):
        Settings(webhook_portal_url="http://portal.invalid/hooks")
    with pytest.raises(ValueError, match="FHIR_CLIENT_SECRET"):
        Settings(
            fhir_base_url="http://epj.invalid/fhir",
            fhir_token_url="http://epj.invalid/token",
            fhir_client_id="econsult",
        )


def test_the_portal_guides_make_run_key_signs_deliveries_its_receiver_verifies() -> None:
    guide = Path(__file__).resolve().parents[2] / "docs" / "guide-portal.md"
    section = guide.read_text().split("\n## Webhooks you receive\n")[1].split("\n### ")[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    (export,) = [line for line in block.splitlines() if line.startswith("export ")]
    key = subprocess.run(
        ["bash", "-c", f'{export}\nprintf %s "$WEBHOOK_PORTAL_SECRETS"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    endpoint = WebhookEndpoint.from_setting("http://127.0.0.1:9000/econsult/webhooks", key)
    body = '{"type": "econsult.closed"}'
    headers = endpoint.headers("c0ffee:1:closed:patient", body, datetime.now(UTC))

    assert Webhook(key).verify(body, headers) == {"type": "econsult.closed"}
