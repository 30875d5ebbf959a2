"""Each practice's events and journal entries reach its own endpoints, exactly once.

Two practices with their own webhook receiver and FHIR server (secrets named by file in
ECONSULT_SECRETS_DIR), two more on the service-wide settings (one with a practice record and
no endpoints, one with no record at all), the portal on its service-wide endpoint; a real
Temporal dev server, `python worker.py` killed mid-delivery and started again, and the API
over real HTTP driving every consultation.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from dev.harness.ports import serving
from dev.harness.processes import Processes
from domain.models import consultation_workflow_id
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from store.tables import JournalEntry, Notification
from tests.api.support import Party, Tokens, create, seed_clinicians
from tests.integrations.helseid_server import HelseIdServer
from tests.integrations.receivers import FhirServer, WebhookReceiver, eventually, new_secret
from tests.support import WorkerProcess, rows_of, temporal_address, worker_env

ENTRY_SYSTEM = Settings().fhir_entry_system
# What the worker logs while a practice's secret file is gone (the practice and file named).
WAITING_LINE = "practice secret unavailable, delivery waits and is retried"
# The receivers listen on loopback, the region's own network here (practices' endpoints
# elsewhere must be https to public addresses).
LOCAL_NETWORKS = "127.0.0.0/8"
# A command waits this long for the workflow; a 503 meanwhile (no worker yet) is retried.
COMMAND_ATTEMPTS = 6


@dataclass
class Receivers:
    """A practice's systems: what its webhook receiver and its FHIR server got."""

    webhook: WebhookReceiver
    fhir: FhirServer
    webhook_url: str = ""
    fhir_url: str = ""


WorkerEnv = dict[str, str]


@dataclass
class Stack:
    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    tokens: Tokens
    worker: WorkerProcess


@asynccontextmanager
async def receiving(receivers: Receivers) -> AsyncIterator[Receivers]:
    async with (
        serving(receivers.webhook.app(), 0) as hooks,
        serving(receivers.fhir.app(), 0) as fhir,
    ):
        receivers.webhook_url, receivers.fhir_url = f"{hooks}/hooks", fhir
        yield receivers


def practice_systems(**fhir: Any) -> Receivers:
    return Receivers(WebhookReceiver([new_secret()]), FhirServer(**fhir))


def write_secrets(root: Path, practice: str, name: str, systems: Receivers) -> dict[str, Any]:
    """The practice's secret files in its own folder, and the endpoints of its PUT naming them."""
    folder = root / practice
    folder.mkdir()
    (folder / f"{name}-webhook").write_text(systems.webhook.secrets[0] + "\n")
    (folder / f"{name}-epj").write_text(systems.fhir.client_secret + "\n")
    return {
        "webhook": {"url": systems.webhook_url, "secret_refs": [f"{name}-webhook"]},
        "record_system": {
            "fhir_base_url": f"{systems.fhir_url}/fhir",
            "token_url": f"{systems.fhir_url}/token",
            "client_id": systems.fhir.client_id,
            "client_secret_ref": f"{name}-epj",
        },
    }


def service_wide(portal: WebhookReceiver, portal_url: str, shared: Receivers) -> WorkerEnv:
    """The service-wide endpoints, as literal settings (the portal's and the fallback's)."""
    return {
        "WEBHOOK_PORTAL_URL": portal_url,
        "WEBHOOK_PORTAL_SECRETS": portal.secrets[0],
        "WEBHOOK_PRACTICE_URL": shared.webhook_url,
        "WEBHOOK_PRACTICE_SECRETS": shared.webhook.secrets[0],
        **{name.upper(): value for name, value in shared.fhir.settings(shared.fhir_url).items()},
    }


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """The worker's secrets directory, where each practice's own key is written as a file."""
    path = tmp_path / "secrets"
    path.mkdir()
    return path


@pytest.fixture
def portal() -> WebhookReceiver:
    return WebhookReceiver([new_secret()])


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with Processes(tmp_path / "logs") as started:
        yield started


@asynccontextmanager
async def stack_on(
    dev_env: WorkflowEnvironment,
    database_url: str,
    processes: Processes,
    secrets_dir: Path,
    endpoints: WorkerEnv,
) -> AsyncIterator[Stack]:
    """`python worker.py` and the API, both reading ECONSULT_SECRETS_DIR, on one task queue."""
    task_queue = f"econsultation-practices-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        temporal_address(dev_env),
        database_url,
        task_queue,
        ECONSULT_SECRETS_DIR=str(secrets_dir),
        OUTBOUND_ALLOWED_NETWORKS=LOCAL_NETWORKS,
        **endpoints,
    )
    settings = Settings(
        database_url=database_url,
        econsult_task_queue=task_queue,
        econsult_secrets_dir=str(secrets_dir),
        outbound_allowed_networks=LOCAL_NETWORKS,
        api_write_burst=10_000,
    )
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    worker = WorkerProcess(processes, env)
    app = create_app(settings, client=dev_env.client, sessions=sessions)
    try:
        async with (
            serving(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=60) as http,
        ):
            worker.start()
            await worker.ready()
            yield Stack(http, sessions, Tokens(settings), worker)
    finally:
        await engine.dispose()


StartStack = Callable[[WorkerEnv], AbstractAsyncContextManager[Stack]]


@pytest.fixture
def start_stack(
    dev_env: WorkflowEnvironment, postgres_url: str, processes: Processes, secrets_dir: Path
) -> StartStack:
    """`stack_on` this test's Temporal, database, processes and secrets directory."""
    return partial(stack_on, dev_env, postgres_url, processes, secrets_dir)


async def command(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """A command, retried with its Idempotency-Key while no worker takes it (503)."""
    keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    for _ in range(COMMAND_ATTEMPTS):
        response = await http.post(path, json=body, headers=keyed)
        if response.status_code != 503:
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer
    raise AssertionError(f"{path} answered 503 {COMMAND_ATTEMPTS} times")


async def put_practice(stack: Stack, party: Party, body: dict[str, Any]) -> None:
    response = await stack.http.put(
        f"/v1/practices/{party.practice}", json=body, headers=party.admin
    )
    assert response.status_code == 200, response.text


async def finished(dev_env: WorkflowEnvironment, case_id: str) -> None:
    handle = dev_env.client.get_workflow_handle(consultation_workflow_id(case_id))
    result = await asyncio.wait_for(handle.result(), timeout=180)
    assert result["status"] == "closed"


def fhir_keys(server: FhirServer | HelseIdServer) -> set[str]:
    return {identifier.removeprefix(f"{ENTRY_SYSTEM}|") for identifier in server.resources}


async def test_each_practice_gets_its_own_events_and_entries_once_across_a_worker_crash(
    dev_env: WorkflowEnvironment,
    start_stack: StartStack,
    secrets_dir: Path,
    portal: WebhookReceiver,
) -> None:
    own_a = practice_systems(hold_first=asyncio.Event())
    own_b = practice_systems()
    shared = practice_systems()
    async with AsyncExitStack() as running:
        portal_url = f"{await running.enter_async_context(serving(portal.app(), 0))}/portal"
        for systems in (own_a, own_b, shared):
            await running.enter_async_context(receiving(systems))
        stack = await running.enter_async_context(
            start_stack(service_wide(portal, portal_url, shared))
        )
        a, b, c, d = (Party(stack.tokens) for _ in range(4))
        for party in (a, b, c, d):
            await seed_clinicians(stack.http, party)
        await put_practice(
            stack, a, {"name": "A", **write_secrets(secrets_dir, a.practice, "a", own_a)}
        )
        await put_practice(
            stack, b, {"name": "B", **write_secrets(secrets_dir, b.practice, "b", own_b)}
        )
        await put_practice(stack, c, {"name": "C, on the service-wide settings"})
        # d's practice has no record at all.

        case_a = await create(stack.http, a)
        # A's record system has stored the first entry; its answer never reaches this worker.
        await asyncio.wait_for(own_a.fhir.stored_first.wait(), timeout=120)
        stack.worker.kill()
        stack.worker.start()
        await stack.worker.ready()
        assert own_a.fhir.hold_first is not None
        own_a.fhir.hold_first.set()
        cases = {"a": case_a, "b": await create(stack.http, b)}
        cases |= {"c": await create(stack.http, c), "d": await create(stack.http, d)}
        await command(
            stack.http,
            f"/v1/consultations/{case_a['id']}/reassign",
            {"recipient_id": a.substitute, "reason": "Dr. Fastlege is ill."},
            a.practice_admin(),
        )
        for name, party in (("a", a), ("b", b), ("c", c), ("d", d)):
            await command(
                stack.http,
                f"/v1/consultations/{cases[name]['id']}/replies",
                {"body": "Use the cream.", "attachment_ids": [], "close": True},
                party.vikar if name == "a" else party.doctor,
            )
        for case in cases.values():
            await finished(dev_env, case["id"])
        worker_log = stack.worker.processes.log(stack.worker.name).read_text(errors="replace")

    destinations = {"a": own_a, "b": own_b, "c": shared, "d": shared}
    every_receiver = [own_a, own_b, shared]
    for name, case in cases.items():
        notifications = await rows_of(stack.sessions, Notification, case["id"])
        journal = await rows_of(stack.sessions, JournalEntry, case["id"])
        to_portal = {n.notification_key for n in notifications if n.audience == "patient"}
        to_practice = {n.notification_key for n in notifications} - to_portal
        assert to_portal and to_practice, name
        assert all(n.sent_at is not None for n in notifications), name
        assert to_portal <= set(portal.ids()) and not to_practice & set(portal.ids())
        entry_keys = {entry.entry_key for entry in journal}
        assert {entry.kind for entry in journal} >= {"message", "close"}, name
        for receivers in every_receiver:
            got_events = to_practice & set(receivers.webhook.ids())
            got_entries = entry_keys & fhir_keys(receivers.fhir)
            if receivers is destinations[name]:
                assert (got_events, got_entries) == (to_practice, entry_keys), name
            else:
                assert (got_events, got_entries) == (set(), set()), name
        own = destinations[name].fhir
        for entry in journal:
            assert entry.external_status in (200, 201), (name, entry.kind)
            assert entry.external_id == own.resources[f"{ENTRY_SYSTEM}|{entry.entry_key}"]["id"]
    reassigned = await rows_of(stack.sessions, JournalEntry, case_a["id"])
    assert "reassign" in {entry.kind for entry in reassigned}
    # Signed with each practice's own key (a receiver knows its own key only); a retried
    # delivery repeats its webhook-id, so a receiver that dedupes on it gets each event once.
    for receiver in (portal, own_a.webhook, own_b.webhook, shared.webhook):
        assert receiver.deliveries and all(d.verified for d in receiver.deliveries)
    # Each record system issued its own token: tokens are kept per practice, never shared.
    assert all(systems.fhir.tokens_issued >= 1 for systems in every_receiver)
    # The crash: A's first entry was posted again and found where the first attempt left it.
    first = min(await rows_of(stack.sessions, JournalEntry, case_a["id"]), key=lambda e: e.id)
    assert own_a.fhir.posts.count(f"identifier={ENTRY_SYSTEM}|{first.entry_key}") >= 2
    assert first.external_status == 200
    for secret_file in secrets_dir.rglob("*"):
        if secret_file.is_file():
            assert secret_file.read_text().strip() not in worker_log


async def test_a_secret_file_gone_later_holds_the_practice_deliveries_with_one_clear_line(
    start_stack: StartStack, secrets_dir: Path, portal: WebhookReceiver
) -> None:
    own = practice_systems()
    async with (
        serving(portal.app(), 0) as portal_base,
        receiving(own),
        start_stack(
            {
                "WEBHOOK_PORTAL_URL": f"{portal_base}/portal",
                "WEBHOOK_PORTAL_SECRETS": portal.secrets[0],
            },
        ) as stack,
    ):
        party = Party(stack.tokens)
        await seed_clinicians(stack.http, party)
        own_files = write_secrets(secrets_dir, party.practice, "e", own)
        await put_practice(stack, party, {"name": "E", **own_files})
        folder = secrets_dir / party.practice
        kept = {path.name: path.read_text() for path in folder.iterdir()}
        for path in folder.iterdir():
            path.unlink()

        case = await create(stack.http, party)

        def waiting_lines() -> list[dict[str, Any]]:
            return [
                event
                for event in stack.worker.events
                if event.get("event")
                == "practice secret unavailable, delivery waits and is retried"
            ]

        async def retried() -> bool:
            refs = [line.get("secret_ref") for line in waiting_lines()]
            return refs.count("e-webhook") >= 2 and refs.count("e-epj") >= 2

        await eventually(retried, "both deliveries retried while their secrets are gone")
        for line in waiting_lines():
            assert line["practice_id"] == party.practice and line["reason"] == "no such file"
            assert line["level"] == "WARNING"
        rows = await rows_of(stack.sessions, Notification, case["id"])
        assert [row.sent_at for row in rows if row.audience != "patient"] == [None]
        assert own.webhook.deliveries == [] and own.fhir.resources == {}

        for name, secret in kept.items():
            (folder / name).write_text(secret)

        async def delivered() -> bool:
            entries = await rows_of(stack.sessions, JournalEntry, case["id"])
            notified = await rows_of(stack.sessions, Notification, case["id"])
            return all(e.external_status == 201 for e in entries) and all(
                n.sent_at is not None for n in notified
            )

        await eventually(delivered, "the practice's deliveries once its secrets are back")
        rows = await rows_of(stack.sessions, Notification, case["id"])
        assert sorted(own.webhook.ids()) == [
            r.notification_key for r in rows if r.audience != "patient"
        ]
        assert len(own.fhir.resources) == 1 and all(d.verified for d in own.webhook.deliveries)
        worker_log = stack.worker.processes.log(stack.worker.name).read_text(errors="replace")
        for secret in kept.values():
            assert secret.strip() not in worker_log


async def test_a_practice_behind_helseid_gets_its_entries_with_a_signed_assertion_and_dpop(
    dev_env: WorkflowEnvironment,
    start_stack: StartStack,
    secrets_dir: Path,
    portal: WebhookReceiver,
) -> None:
    """The key named at the PUT, read by `python worker.py`, signs for a DPoP-bound token; the
    RFC-reading server (tests/integrations/helseid_server.py) checks every request."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(key, as_dict=True) | {"alg": "ES256", "kid": "legesenteret-2026"}
    public = {name: value for name, value in jwk.items() if name != "d"}
    helseid = HelseIdServer(
        client_id="econsult-f", client_jwk=public, dpop=True, nonce_at_token=True
    )
    async with (
        serving(portal.app(), 0) as portal_base,
        serving(helseid.app(), 0) as sts_url,
        serving(helseid.app(), 0) as fhir_url,
        start_stack(
            {
                "WEBHOOK_PORTAL_URL": f"{portal_base}/portal",
                "WEBHOOK_PORTAL_SECRETS": portal.secrets[0],
            },
        ) as stack,
    ):
        helseid.base_url, helseid.fhir_url = sts_url, fhir_url
        party = Party(stack.tokens)
        await seed_clinicians(stack.http, party)
        (secrets_dir / party.practice).mkdir()
        (secrets_dir / party.practice / "helseid-key").write_text(json.dumps(jwk))
        record_system = {
            "fhir_base_url": f"{fhir_url}/fhir",
            "token_url": helseid.token_url,
            "client_id": helseid.client_id,
            "auth": "private_key_jwt",
            "client_assertion_key_ref": "helseid-key",
            "dpop": True,
        }
        await put_practice(stack, party, {"name": "F", "record_system": record_system})

        case = await create(stack.http, party)
        await command(
            stack.http,
            f"/v1/consultations/{case['id']}/replies",
            {"body": "Use the cream.", "attachment_ids": [], "close": True},
            party.doctor,
        )
        await finished(dev_env, case["id"])
        worker_log = stack.worker.processes.log(stack.worker.name).read_text(errors="replace")

    journal = await rows_of(stack.sessions, JournalEntry, case["id"])
    assert {entry.kind for entry in journal} >= {"message", "close"}
    assert all(entry.external_status == 201 for entry in journal)
    assert {entry.entry_key for entry in journal} == fhir_keys(helseid)
    assert helseid.tokens_issued and all(t["cnf"]["jkt"] for t in helseid.tokens_issued)
    assert all(create["authorization"].startswith("DPoP ") for create in helseid.creates)
    assert {a.header["kid"] for a in helseid.assertions} == {"legesenteret-2026"}
    assert jwk["d"] not in worker_log
