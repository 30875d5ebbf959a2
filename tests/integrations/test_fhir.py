"""Journal entries reach a FHIR R4 record system as Communication resources, exactly once.

A real Temporal dev server, workers (in-process, or `python worker.py` killed mid-activity)
whose settings name the record system, and a real FHIR endpoint started by the test that
issues client-credentials tokens and honours `If-None-Exist`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.communication import Communication
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.fhir_resources import HPR_SYSTEM, NATIONAL_ID_SYSTEM, SHA256_EXTENSION
from dev.harness.ports import free_port, serving
from dev.harness.processes import Processes
from domain.models import (
    AttachmentRef,
    CloseCommand,
    MessageContent,
    ReplyCommand,
    Role,
    Status,
    SubmitCommand,
)
from infra.settings import Settings
from infra.temporal import data_converter
from store.attachments import Attachments
from store.tables import JournalEntry
from tests.integrations.receivers import (
    FhirServer,
    eventually,
    worker_with,
)
from tests.support import (
    CLINICIAN,
    WorkerProcess,
    captured_logs,
    content,
    new_start,
    notifications,
    reply,
    rows_of,
    seeded_store,
    sha256,
    start,
    temporal_address,
    worker_env,
)
from workflows.econsultation import EConsultation

ENTRY_SYSTEM = Settings().fhir_entry_system


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with seeded_store(sqlite_url) as sessions:
        yield sessions


async def journal_rows(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str
) -> list[JournalEntry]:
    return await rows_of(sessions, JournalEntry, consultation_id)


def resource_of(server: FhirServer, entry_key: str) -> dict[str, Any]:
    return server.resources[f"{ENTRY_SYSTEM}|{entry_key}"]


def stored_keys(server: FhirServer, consultation_id: str) -> list[str]:
    """Entry keys of the Communications the server holds for one consultation."""
    return sorted(
        resource["identifier"][0]["value"]
        for resource in server.resources.values()
        if resource["about"][0]["identifier"]["value"] == consultation_id
    )


async def close(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
    assert (await handle.result()).status == Status.CLOSED


async def attach(sessions: async_sessionmaker[AsyncSession], patient_id: str) -> AttachmentRef:
    scan = b"\x89PNG synthetic scan"
    info = await Attachments(sessions).add(
        attachment_id=uuid.uuid4().hex,
        uploaded_by=patient_id,
        filename="scan.png",
        content_type="image/png",
        sha256=sha256(scan),
        content=scan,
    )
    return AttachmentRef(id=info.id, sha256=info.sha256)


async def test_each_journal_entry_gives_one_communication_that_validates_as_fhir_r4(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    server = FhirServer()
    case = new_start(message=None)
    scan = await attach(sessions, case.patient.id)
    async with (
        serving(server.app(), 0) as base_url,
        worker_with(dev_env.client, sqlite_url, **server.settings(base_url)) as queue,
    ):
        handle = await start(dev_env.client, queue, case)
        await handle.execute_update(
            EConsultation.submit,
            SubmitCommand(message=MessageContent(body="A rash.", attachments=[scan])),
        )
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        await close(handle)
        history = await handle.fetch_history()
    rows = await journal_rows(sessions, case.consultation_id)

    assert [row.kind for row in rows] == ["message", "message", "close"]
    assert stored_keys(server, case.consultation_id) == sorted(row.entry_key for row in rows)
    assert len(server.posts) == len(rows)
    for row in rows:
        resource = resource_of(server, row.entry_key)
        communication = Communication.model_validate(resource)
        assert communication.get_resource_type() == "Communication"
        assert (row.external_status, row.external_id) == (201, resource["id"])
        assert resource["subject"]["identifier"] == {
            "system": NATIONAL_ID_SYSTEM,
            "value": case.patient.id,
        }
        assert resource["sent"].startswith(row.occurred_at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert resource["payload"][0]["contentString"] == row.text
    submitted, replied, _ = (resource_of(server, row.entry_key) for row in rows)
    assert submitted["sender"]["identifier"]["value"] == case.patient.id
    assert replied["sender"]["identifier"] == {"system": HPR_SYSTEM, "value": CLINICIAN}
    linked = submitted["payload"][1]["contentAttachment"]
    assert linked["url"].endswith(f"/v1/attachments/{scan.id}")
    assert (linked["contentType"], linked["size"]) == ("image/png", 19)
    assert linked["extension"] == [{"url": SHA256_EXTENSION, "valueString": scan.sha256}]
    assert set(server.posts) == {f"identifier={ENTRY_SYSTEM}|{row.entry_key}" for row in rows}
    # The forwarding path replays deterministically.
    replayer = Replayer(workflows=[EConsultation], data_converter=data_converter(Settings()))
    assert (
        await replayer.replay_workflow(history, raise_on_replay_failure=False)
    ).replay_failure is None


async def test_each_answer_links_the_communication_of_the_message_it_answers(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    server = FhirServer()
    case = new_start()
    async with (
        serving(server.app(), 0) as base_url,
        worker_with(dev_env.client, sqlite_url, **server.settings(base_url)) as queue,
    ):
        handle = await start(dev_env.client, queue, case)
        await handle.execute_update(
            EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Is it itchy?")
        )
        await handle.execute_update(
            EConsultation.reply, reply(Role.PATIENT, case.patient.id, "Yes, at night.")
        )
        await handle.execute_update(
            EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Use the cream.", close=True)
        )
        await handle.result()
    rows = await journal_rows(sessions, case.consultation_id)

    assert [(row.kind, row.author_role) for row in rows] == [
        ("message", "patient"),
        ("message", "clinician"),
        ("message", "patient"),
        ("message", "clinician"),
        ("close", "clinician"),
    ]
    question, asked_back, follow_up, answer, closed = (
        resource_of(server, row.entry_key) for row in rows
    )

    def links(resource: dict[str, Any]) -> list[str]:
        return [ref["identifier"]["value"] for ref in resource.get("inResponseTo", [])]

    assert links(question) == []
    assert links(asked_back) == [rows[0].entry_key]
    assert links(follow_up) == [rows[1].entry_key]
    assert links(answer) == [rows[2].entry_key]
    assert links(closed) == []
    # A logical reference: the identifier the answered Communication carries.
    for answering, answered in (
        (asked_back, question),
        (follow_up, asked_back),
        (answer, follow_up),
    ):
        assert answering["inResponseTo"][0]["identifier"] == answered["identifier"][0]


async def test_a_record_system_down_delays_entries_then_delivers_and_never_blocks_the_patient(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    server = FhirServer()
    port = free_port()
    down_url = f"http://127.0.0.1:{port}"
    async with worker_with(dev_env.client, sqlite_url, **server.settings(down_url)) as queue:
        case = new_start()
        handle = await start(dev_env.client, queue, case)
        view = await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        assert view.status == Status.AWAITING_PATIENT

        async def patient_told() -> bool:
            rows = await notifications(sessions, case.consultation_id)
            return any(r.audience == "patient" and r.sent_at is not None for r in rows)

        await eventually(patient_told, "the patient notified while the record system is down")

        async def retried() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(
                p.activity_type.name == "forward_journal_entry" and p.attempt >= 2 for p in pending
            )

        await eventually(retried, "a failed forward, to be retried")
        assert {
            row.external_status for row in await journal_rows(sessions, case.consultation_id)
        } == {None}
        async with serving(server.app(), port):

            async def delivered() -> bool:
                rows = await journal_rows(sessions, case.consultation_id)
                return all(row.external_status == 201 for row in rows)

            await eventually(delivered, "both entries in the record system")
            await close(handle)

    rows = await journal_rows(sessions, case.consultation_id)
    assert len(rows) == 3
    assert stored_keys(server, case.consultation_id) == sorted(row.entry_key for row in rows)


async def closed_refused_by(server: FhirServer, client: Client, sqlite_url: str) -> str:
    """A consultation opened and closed while `server` is the record system; its id."""
    async with (
        serving(server.app(), 0) as base_url,
        worker_with(client, sqlite_url, **server.settings(base_url)) as queue,
    ):
        case = new_start()
        await close(await start(client, queue, case))
    return case.consultation_id


async def test_a_refused_entry_is_marked_with_the_status_and_the_consultation_goes_on(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    server = FhirServer(refuse_with=422)
    consultation_id = await closed_refused_by(server, dev_env.client, sqlite_url)
    rows = await journal_rows(sessions, consultation_id)

    assert [(row.external_status, row.external_id) for row in rows] == [(422, None)] * 2
    assert len(server.posts) == len(rows)
    assert server.resources == {}


async def test_a_refused_entry_is_logged_with_its_key_and_the_status(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    with captured_logs() as logs:
        consultation_id = await closed_refused_by(
            FhirServer(refuse_with=422), dev_env.client, sqlite_url
        )
    rows = await journal_rows(sessions, consultation_id)

    refused = [
        json.loads(line) for line in logs.getvalue().splitlines() if "journal entry refused" in line
    ]
    # The runbook looks for these lines by key, and the status says what the receiver said.
    assert sorted((line["entry_key"], line["http_status"]) for line in refused) == sorted(
        (row.entry_key, 422) for row in rows
    )


@pytest.mark.parametrize(
    ("status", "locates"), [(202, True), (204, True), (204, False)], ids=["202", "204", "204-bare"]
)
async def test_any_2xx_to_a_create_is_delivered_once_and_kept_on_the_row(
    dev_env: WorkflowEnvironment,
    sqlite_url: str,
    sessions: async_sessionmaker[AsyncSession],
    status: int,
    locates: bool,
) -> None:
    server = FhirServer(created_status=status, locates=locates)
    # A 2xx taken for a failure is retried without limit: the consultation would never finish.
    async with asyncio.timeout(60):
        consultation_id = await closed_refused_by(server, dev_env.client, sqlite_url)
    rows = await journal_rows(sessions, consultation_id)

    ids = {key: resource["id"] for key, resource in server.resources.items()}
    assert [row.external_status for row in rows] == [status] * 2
    assert sorted(row.external_id or "" for row in rows) == sorted(
        ids[f"{ENTRY_SYSTEM}|{row.entry_key}"] if locates else "" for row in rows
    )
    assert len(server.posts) == len(rows), "an entry was sent again"


@pytest.fixture
def crashing_worker(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, str, dict[str, str]]]:
    """`python worker.py` on its own task queue; the test adds the FHIR settings, then starts it."""
    task_queue = f"econsultation-fhir-crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(temporal_address(dev_env), postgres_url, task_queue)
    with Processes(tmp_path) as processes:
        yield WorkerProcess(processes, env), task_queue, env


async def test_a_worker_killed_mid_forward_still_gives_one_communication(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    crashing_worker: tuple[WorkerProcess, str, dict[str, str]],
) -> None:
    worker, queue, env = crashing_worker
    server = FhirServer(hold_first=asyncio.Event())
    async with seeded_store(postgres_url) as sessions, serving(server.app(), 0) as base_url:
        env.update({name.upper(): value for name, value in server.settings(base_url).items()})
        worker.start()
        case = new_start()
        handle = await start(dev_env.client, queue, case)
        # The record system has stored the entry; its answer never reaches this worker.
        await asyncio.wait_for(server.stored_first.wait(), timeout=120)
        worker.kill()
        worker.start()
        assert server.hold_first is not None
        server.hold_first.set()
        await close(handle)
        rows = await journal_rows(sessions, case.consultation_id)

    (submitted, closed) = rows
    assert stored_keys(server, case.consultation_id) == sorted(
        [submitted.entry_key, closed.entry_key]
    )
    assert server.posts.count(f"identifier={ENTRY_SYSTEM}|{submitted.entry_key}") >= 2
    assert submitted.external_status == 200
    assert submitted.external_id == resource_of(server, submitted.entry_key)["id"]
    assert closed.external_status == 201
