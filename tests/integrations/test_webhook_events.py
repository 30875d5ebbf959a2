"""Every event the service sends is in the OpenAPI document's `webhooks`, and what arrives at a
receiver is what the document says: each body validated against the schema the API serves.

The Temporal time-skipping server (so reminders, deadlines and late notices fire), a worker
built from settings, a real HTTP receiver for the portal and the practice, and a record system
that refuses every entry, so the practice hears of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from dev.harness.ports import serving
from domain.effects import Audience, NotificationEvent
from domain.models import CloseCommand, ReassignCommand, ReplyCommand, Role, WithdrawCommand
from domain.webhook_events import ENVELOPES, event_type, sandbox_test
from infra.settings import Settings
from store.tables import JournalEntry
from tests.integrations.receivers import (
    Delivery,
    FhirServer,
    WebhookReceiver,
    eventually,
    new_secret,
    worker_notifying,
)
from tests.support import (
    CLINICIAN,
    PRACTICE,
    SUBSTITUTE,
    content,
    new_start,
    notifications,
    rows_of,
    seeded_store,
    start,
)
from workflows.econsultation import EConsultation

# Every type the code can emit: one per notification event, and the sandbox's test event.
EMITTED = {event_type(event) for event in NotificationEvent} | {"econsult.test"}
PATH_OF = {Audience.PATIENT: "/portal", Audience.CLINICIAN: "/practice"}
SETTLED = event_type(NotificationEvent.COPAYMENT_SETTLED)
REFUSED = event_type(NotificationEvent.JOURNAL_ENTRY_REFUSED)


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with seeded_store(sqlite_url) as sessions:
        yield sessions


async def served_document(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> Any:
    """The OpenAPI document as the API serves it over HTTP."""
    settings = Settings(database_url=sqlite_url, auth_hs256_secret="x" * 32)
    app = create_app(settings, client=env.client, sessions=sessions)
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.get("/openapi.json")
    answer.raise_for_status()
    return answer.json()


def body_schema(document: dict[str, Any], kind: str) -> dict[str, Any]:
    """The webhook's body schema, resolvable on its own: the document's components beside it."""
    post = document["webhooks"][kind]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def schema_errors(document: dict[str, Any], body: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        body_schema(document, body["type"]), format_checker=jsonschema.FormatChecker()
    )
    return [error.message for error in validator.iter_errors(body)]


def documented_headers(document: dict[str, Any], kind: str) -> set[str]:
    post = document["webhooks"][kind]["post"]
    return {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}


async def test_every_event_the_code_can_emit_arrives_as_the_served_document_describes_it(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    document = await served_document(env, sqlite_url, sessions)
    receiver = WebhookReceiver([new_secret()])
    record_system = FhirServer(refuse_with=422)
    async with worker_notifying(
        env.client, sqlite_url, receiver, record_system=record_system
    ) as queue:
        # Unanswered past the reminder, the deadline and the late notice; answered (billed,
        # so the co-payment settles), then closed.
        late = new_start()
        handle = await start(env.client, queue, late)
        await env.sleep(timedelta(days=10))
        reply = ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content())
        await handle.signal(EConsultation.reply_signal, reply)
        await env.sleep(timedelta(hours=1))
        await handle.signal(EConsultation.close_signal, CloseCommand(clinician_id=CLINICIAN))
        await handle.result()
        # Handed to a colleague, then withdrawn.
        handed = new_start()
        handle = await start(env.client, queue, handed)
        reassign = ReassignCommand(recipient_id=SUBSTITUTE, reason="Ill.", by="office")
        await handle.signal(EConsultation.reassign_signal, reassign)
        await handle.signal(
            EConsultation.withdraw_signal, WithdrawCommand(patient_id=handed.patient.id)
        )
        await handle.result()
        cases = (late.consultation_id, handed.consultation_id)

        async def all_sent() -> bool:
            rows = [row for case in cases for row in await notifications(sessions, case)]
            refused = [row for case in cases for row in await rows_of(sessions, JournalEntry, case)]
            told = [row for row in rows if row.event == "journal_entry_refused"]
            return len(told) == len(refused) and all(row.sent_at for row in rows)

        await eventually(all_sent, "every notification sent, every refused entry told")
        rows = [row for case in cases for row in await notifications(sessions, case)]

    # The document lacks no type the code can emit.
    assert not EMITTED - set(document["webhooks"]), EMITTED - set(document["webhooks"])
    # Each event once (the key is its webhook-id), each as the document describes it.
    assert sorted(receiver.ids()) == sorted(row.notification_key for row in rows)
    for delivery in receiver.deliveries:
        body = json.loads(delivery.body)
        assert delivery.verified
        assert schema_errors(document, body) == [], body
        assert documented_headers(document, body["type"]) <= set(delivery.headers)
        assert _audience_path(delivery, body), (delivery.path, body)
    received = {json.loads(d.body)["type"] for d in receiver.deliveries}
    assert received == EMITTED - {"econsult.test"}
    assert all(late.patient.id not in d.body for d in receiver.deliveries)


def _audience_path(delivery: Delivery, body: dict[str, Any]) -> bool:
    """Sent where its type says: patient events to the portal, the others to the practice."""
    audience = Audience(body["data"]["audience"])
    expected = PATH_OF.get(audience, "/practice")
    return audience in ENVELOPES[body["type"]].audiences and delivery.path == expected


async def test_the_settled_co_payment_tells_the_portal_status_tariff_and_amount_by_case_id(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receiver = WebhookReceiver([new_secret()])
    async with worker_notifying(env.client, sqlite_url, receiver, "portal") as queue:
        case = new_start()
        handle = await start(env.client, queue, case)
        reply = ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content())
        await handle.signal(EConsultation.reply_signal, reply)
        await receiver.received(SETTLED)
        view = await handle.query(EConsultation.view)

    (body,) = receiver.bodies(SETTLED)
    data = body["data"]
    assert data["consultation_id"] == case.consultation_id
    assert (data["audience"], data["recipient_id"]) == ("patient", None)
    copayment = view.copayment
    assert data["copayment"] == {
        "status": copayment.status.value,
        "tariff": copayment.tariff,
        "amount_nok": float(copayment.amount_nok) if copayment.amount_nok is not None else None,
    }
    assert copayment.status != "pending"
    assert case.patient.id not in json.dumps(body)
    assert case.message is not None and case.message.body not in json.dumps(body)


async def test_a_refused_entry_tells_the_practice_its_key_and_status_once_without_content(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    receiver = WebhookReceiver([new_secret()])
    record_system = FhirServer(refuse_with=409)
    async with worker_notifying(
        env.client, sqlite_url, receiver, "practice", record_system=record_system
    ) as queue:
        case = new_start()
        handle = await start(env.client, queue, case)
        await receiver.received(REFUSED)
        await handle.signal(EConsultation.close_signal, CloseCommand(clinician_id=CLINICIAN))
        await handle.result()
        await receiver.received(REFUSED, 2)
        entries = await rows_of(sessions, JournalEntry, case.consultation_id)

    refusals = receiver.bodies(REFUSED)
    told_of = sorted(
        (b["data"]["journal_entry"]["entry_key"], b["data"]["journal_entry"]["http_status"])
        for b in refusals
    )
    assert told_of == sorted((entry.entry_key, 409) for entry in entries)
    for body in refusals:
        assert body["data"]["consultation_id"] == case.consultation_id
        assert body["data"]["recipient_id"] == PRACTICE
        assert all(entry.text not in json.dumps(body) for entry in entries)
        assert case.patient.id not in json.dumps(body)


async def test_every_documented_example_and_the_sandbox_test_event_fit_their_schemas(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    document = await served_document(env, sqlite_url, sessions)

    for kind, entry in document["webhooks"].items():
        examples = entry["post"]["requestBody"]["content"]["application/json"]["examples"]
        for example in examples.values():
            assert example["value"]["type"] == kind
            assert schema_errors(document, example["value"]) == [], kind
    sent = sandbox_test(Audience.CLINICIAN, None, datetime.now(UTC)).model_dump(mode="json")
    assert schema_errors(document, sent) == []
    assert schema_errors(document, {**sent, "data": {"audience": "nobody"}}) != []
