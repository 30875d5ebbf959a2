"""docs/privacy.md: search attributes, logs, traces, metrics and notifications carry no health
content and no national identity number; only the encrypted payloads and the case store do.

One consultation is driven through its whole life over real HTTP (real Temporal dev server,
in-process worker, uvicorn): a patient whose id is a national identity number writes a message
with a unique marker and an attachment named after it, the clinician reads and replies, the
patient follows up, the clinician closes with a last message. The record system fails once
with an error that quotes the entry, as real EPJ clients do. Then every place outside the
case is searched for the marker and the number; each test first shows that it looked at the
right thing (a positive control), so an empty sink cannot pass for a clean one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import notification_sender
from dev.harness.ports import serving
from domain.events import Event
from domain.models import CopaymentOutcome, Status, consultation_workflow_id
from infra.settings import Settings
from infra.temporal import data_converter
from store.case_writes import Consultations
from store.database import create_engine, create_session_factory
from store.tables import JournalEntry, Notification
from tests.api.support import (
    Party,
    api_over_http,
    case_with_attachment,
)
from tests.integrations.receivers import WebhookReceiver, new_secret
from tests.support import captured_logs, effects_when_quiet

MARKER = f"MARKER-{uuid4().hex}"
# Synthetic, shaped like a fødselsnummer (11 digits): the patient id and inside the text.
NATIONAL_ID = "01017012345"
SECRETS = (MARKER, NATIONAL_ID)


class CaseStoreQuotingMessages(Consultations):
    """Fails its first commit of a message with an error that quotes it, then commits."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self.failed = False

    async def commit(
        self, event: Event, outcome: CopaymentOutcome | None = None
    ) -> tuple[bool, CopaymentOutcome | None]:
        if event.message is not None and not self.failed:
            self.failed = True
            body = event.message.content.body
            raise RuntimeError(f"case store refused {body!r} for {event.record.patient_id}")
        return await super().commit(event, outcome)


@dataclass
class Evidence:
    consultation_id: str
    raw_history: bytes
    decrypted_history: bytes
    description: bytes
    search_attributes: dict[str, Any]
    logs: str
    spans: list[dict[str, Any]]
    metrics: str
    notifications: list[dict[str, Any]]
    journal: list[str]
    webhooks: list[str] = dataclasses.field(default_factory=list)


def leaked(text: str | bytes) -> list[str]:
    """Each secret found, with what surrounds it (so a failure says where it leaked)."""
    haystack = text.encode() if isinstance(text, str) else text
    found = []
    for secret in SECRETS:
        at = haystack.find(secret.encode())
        if at >= 0:
            found.append(f"{secret} in ...{haystack[max(0, at - 300) : at + 80]!r}...")
    return found


async def _drive(http: httpx.AsyncClient, party: Party) -> str:
    """The consultation's whole life through the API; answers its id."""
    message = f"{MARKER}: rash since Monday. Fnr {NATIONAL_ID}."
    case, attachment = await case_with_attachment(http, party, message, name=f"{MARKER}.png")

    steps = [
        ("GET", f"/v1/consultations/{case}", None, party.doctor),
        ("GET", f"/v1/attachments/{attachment}", None, party.doctor),
        ("POST", f"/v1/consultations/{case}/replies", {"body": f"About {MARKER}"}, party.doctor),
        (
            "POST",
            f"/v1/consultations/{case}/patient-replies",
            {"body": f"{MARKER} again, {NATIONAL_ID}"},
            party.service,
        ),
        (
            "POST",
            f"/v1/consultations/{case}/close",
            {"message": {"body": f"Closing {MARKER}"}},
            party.doctor,
        ),
        ("GET", f"/v1/patients/{NATIONAL_ID}/consultations", None, party.service),
        ("GET", f"/v1/consultations/{case}/access-log", None, party.service),
    ]
    for method, path, json_body, headers in steps:
        answer = await http.request(method, path, json=json_body, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
    return str(case)


async def _collect(
    env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    case: str,
    spans: InMemorySpanExporter,
) -> Evidence:
    workflow_id = consultation_workflow_id(case)
    # What the server stores, read by a client without the codec: the bytes at rest.
    plain = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    handle = plain.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    codec = data_converter(Settings()).payload_codec
    assert codec is not None
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    decrypted = b"".join(p.SerializeToString() for p in await codec.decode(started))
    description = await handle.describe()
    attributes = {key.name: value for key, value in description.typed_search_attributes}

    async with sessions() as session:
        notifications = (
            await session.scalars(select(Notification).where(Notification.consultation_id == case))
        ).all()
        journal = (
            await session.scalars(
                select(JournalEntry.text).where(JournalEntry.consultation_id == case)
            )
        ).all()
    return Evidence(
        consultation_id=case,
        raw_history=raw,
        decrypted_history=decrypted,
        description=description.raw_description.SerializeToString(),
        search_attributes=attributes,
        logs="",
        spans=[json.loads(span.to_json()) for span in spans.get_finished_spans()],
        metrics=(await http.get("/metrics")).text,
        notifications=[
            {c.name: getattr(row, c.name) for c in Notification.__table__.columns}
            for row in notifications
        ],
        journal=list(journal),
    )


def webhooks_to(base_url: str, secret: str) -> Settings:
    return Settings(
        webhook_portal_url=f"{base_url}/portal",
        webhook_portal_secrets=secret,
        webhook_practice_url=f"{base_url}/practice",
        webhook_practice_secrets=secret,
    )


@pytest.fixture(scope="module")
async def evidence(
    dev_env: WorkflowEnvironment,
    traced_client: Client,
    spans: InMemorySpanExporter,
    sqlite_url: str,
) -> AsyncIterator[Evidence]:
    engine = create_engine(sqlite_url)
    case_store = CaseStoreQuotingMessages(create_session_factory(engine))
    receiver = WebhookReceiver([new_secret()])
    spans.clear()
    try:
        with captured_logs() as lines:
            async with (
                serving(receiver.app(), 0) as hooks,
                api_over_http(
                    traced_client,
                    sqlite_url,
                    consultations=case_store,
                    sender=notification_sender(webhooks_to(hooks, receiver.secrets[0])),
                ) as api,
            ):
                case = await _drive(api.http, Party(api.tokens, patient=NATIONAL_ID))
                handle = traced_client.get_workflow_handle(consultation_workflow_id(case))
                assert (await handle.result())["status"] == Status.CLOSED
                await effects_when_quiet(api.sessions, case)
                found = await _collect(dev_env, api.http, api.sessions, case, spans)
        assert case_store.failed, "the case store's failure path was not taken"
        webhooks = [json.dumps([d.headers, d.body]) for d in receiver.deliveries]
        yield dataclasses.replace(found, logs=lines.getvalue(), webhooks=webhooks)
    finally:
        await engine.dispose()


def test_the_case_itself_holds_the_content_so_the_marker_is_traceable(evidence: Evidence) -> None:
    # Positive control for every test below: the marker and the number did travel.
    assert len(leaked(evidence.decrypted_history)) == len(SECRETS)
    assert any(MARKER in text for text in evidence.journal)


def test_workflow_history_as_stored_by_the_server_holds_neither(evidence: Evidence) -> None:
    assert len(evidence.raw_history) > 1000
    assert leaked(evidence.raw_history) == []


def test_search_attributes_carry_ids_statuses_and_deadlines_only(evidence: Evidence) -> None:
    assert evidence.search_attributes["EConsultStatus"] == Status.CLOSED
    assert leaked(json.dumps(evidence.search_attributes, default=str)) == []
    assert leaked(evidence.description) == []


def test_log_lines_carry_no_health_content(evidence: Evidence) -> None:
    assert evidence.consultation_id in evidence.logs
    assert leaked(evidence.logs) == []


def test_exported_spans_carry_no_health_content(evidence: Evidence) -> None:
    workflow_id = consultation_workflow_id(evidence.consultation_id)
    attributes = [span["attributes"] for span in evidence.spans]
    assert any(a.get("temporalWorkflowID") == workflow_id for a in attributes)
    assert any(a.get("http.route") == "/v1/patients/{patient_id}/consultations" for a in attributes)
    assert leaked(json.dumps(evidence.spans)) == []


def test_metrics_carry_no_health_content(evidence: Evidence) -> None:
    assert 'route="/v1/consultations/{consultation_id}/close"' in evidence.metrics
    assert leaked(evidence.metrics) == []


def test_notifications_carry_ids_statuses_and_deadlines_only(evidence: Evidence) -> None:
    assert {n["event"] for n in evidence.notifications} >= {"new_message", "closed"}
    assert leaked(json.dumps(evidence.notifications, default=str)) == []


def test_webhook_bodies_and_headers_carry_ids_statuses_and_deadlines_only(
    evidence: Evidence,
) -> None:
    assert len(evidence.webhooks) == len(evidence.notifications)
    assert all(evidence.consultation_id in delivery for delivery in evidence.webhooks)
    assert leaked("".join(evidence.webhooks)) == []
