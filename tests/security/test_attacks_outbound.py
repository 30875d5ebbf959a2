"""Attacks through a practice's endpoint URLs: a region admin points a practice's webhook,
FHIR base or token URL at the service's own network (loopback, the cloud metadata address,
10/8, ...), directly, by a name that resolves there (now or only later), or by a redirect.

A practice's URLs must be https to public addresses, or lie in OUTBOUND_ALLOWED_NETWORKS (the
region's own networks, where http is allowed too): checked at the PUT after DNS, and again at
every connection a delivery opens, which goes to the address that was checked. A refusal at
delivery is final and visible (the row keeps 403, a log line names the key), and an operator
redelivers once the endpoint is fixed. Receivers here are real HTTP servers on loopback; the
region's own network is 127.0.0.1/32, and 127.0.0.2 plays the inside the service must not reach.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from dev.harness.ports import free_port, serving
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from store.practices import Practice, PracticeRecordSystem, Practices, PracticeWebhook
from store.tables import JournalEntry, Notification
from tests.api.support import (
    Api,
    Party,
    Tokens,
    api_over_http,
    assert_problem,
    create,
    eventually,
    seed_clinicians,
    unique,
)
from tests.integrations.receivers import FhirServer, WebhookReceiver, new_secret
from tests.support import rows_of
from worker import build_worker

OWN_NETWORK = "127.0.0.1/32"
INSIDE = "127.0.0.2"
# What the log says when the policy refuses a practice's endpoint at delivery.
REFUSED_LINE = "practice endpoint refused by the outbound policy, not contacted"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


def secret_files(root: Path, practice: str, hook_key: str, client_secret: str) -> None:
    """The practice's files in its folder, and at the top as the old flat layout held them
    (so the attacks mean the same against the code before the fix)."""
    (root / practice).mkdir(exist_ok=True)
    for place in (root / practice, root):
        (place / "hook").write_text(hook_key)
        (place / "epj").write_text(client_secret)


def endpoints(hooks: str, fhir: str, client_id: str = "econsult") -> dict[str, Any]:
    return {
        "webhook": {"url": hooks, "secret_refs": ["hook"]},
        "record_system": {
            "fhir_base_url": f"{fhir}/fhir",
            "token_url": f"{fhir}/token",
            "client_id": client_id,
            "client_secret_ref": "epj",
        },
    }


# --- At the PUT ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def strict_api(
    dev_env: WorkflowEnvironment, postgres_url: str, root: Path
) -> AsyncIterator[Api]:
    """The API with no OUTBOUND_ALLOWED_NETWORKS: practices' endpoints are public or refused."""
    settings = {"econsult_secrets_dir": str(root)}
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as stack:
        yield stack


REFUSED_URLS = {
    "loopback": "https://127.0.0.1/hooks",
    "loopback-by-name": "https://localhost/hooks",
    "loopback-as-decimal": "https://2130706433/hooks",
    "loopback-v6": "https://[::1]/hooks",
    "private-10": "https://10.1.2.3/hooks",
    "private-172": "https://172.16.0.1/hooks",
    "private-192": "https://192.168.1.1/hooks",
    "private-v6-unique-local": "https://[fd00::1]/hooks",
    "link-local-metadata": "https://169.254.169.254/latest/meta-data",
    "link-local-v6": "https://[fe80::1]/hooks",
    "cgnat": "https://100.64.0.1/hooks",
    "multicast": "https://224.0.0.1/hooks",
    "multicast-v6": "https://[ff02::1]/hooks",
    "unspecified": "https://0.0.0.0/hooks",
    "unspecified-v6": "https://[::]/hooks",
    "reserved": "https://240.0.0.1/hooks",
    "broadcast": "https://255.255.255.255/hooks",
    "ipv4-mapped-loopback": "https://[::ffff:127.0.0.1]/hooks",
    "ipv4-mapped-metadata": "https://[::ffff:169.254.169.254]/hooks",
    "nat64-private": "https://[64:ff9b::a00:1]/hooks",
    "6to4-loopback": "https://[2002:7f00:1::]/hooks",
    "plain-http-to-public": "http://8.8.8.8/hooks",
}


async def put_refused(api: Api, root: Path, body: dict[str, Any]) -> dict[str, Any]:
    party = api.party()
    secret_files(root, party.practice, new_secret(), "client-secret")
    url = f"/v1/practices/{party.practice}"

    problem = assert_problem(await api.http.put(url, json=body, headers=party.admin), 422)

    assert_problem(await api.http.get(url, headers=party.admin), 404)
    return problem


@pytest.mark.parametrize("url", REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
async def test_a_webhook_url_to_a_refused_address_is_refused_at_put(
    strict_api: Api, root: Path, url: str
) -> None:
    body = {"name": "B", **endpoints("https://8.8.8.8/hooks", "https://8.8.4.4")}
    body["webhook"]["url"] = url

    problem = await put_refused(strict_api, root, body)

    assert "webhook.url" in problem["detail"]


@pytest.mark.parametrize("field", ["fhir_base_url", "token_url"])
async def test_a_record_system_url_to_the_metadata_address_is_refused_at_put(
    strict_api: Api, root: Path, field: str
) -> None:
    body = {"name": "B", **endpoints("https://8.8.8.8/hooks", "https://8.8.4.4")}
    body["record_system"][field] = "https://169.254.169.254/latest/meta-data"

    problem = await put_refused(strict_api, root, body)

    assert f"record_system.{field}" in problem["detail"]


UNREADABLE_URLS = {
    "unclosed-ipv6": "https://[::1/hooks",
    "not-ipv6": "https://[zz]/hooks",
    "empty-label": "https://a..b/hooks",
    "bad-punycode": "https://xn--/hooks",
    "label-too-long": f"https://{'a' * 70}.example/hooks",
    "port-out-of-range": "https://8.8.8.8:99999/hooks",
    "port-zero": "https://8.8.8.8:0/hooks",
    "not-a-port": "https://8.8.8.8:b/hooks",
    "no-such-name": "https://no-such-host.invalid/hooks",
}


@pytest.mark.parametrize("url", UNREADABLE_URLS.values(), ids=UNREADABLE_URLS.keys())
async def test_a_url_the_policy_cannot_read_is_refused_not_an_error(
    strict_api: Api, root: Path, url: str
) -> None:
    body = {"name": "B", **endpoints(url, "https://8.8.4.4")}

    problem = await put_refused(strict_api, root, body)

    assert "webhook.url" in problem["detail"]


# --- At delivery -----------------------------------------------------------------------------


@asynccontextmanager
async def serving_on(app: FastAPI, host: str, port: int) -> AsyncIterator[str]:
    """uvicorn on `host:port` (dev/harness serves loopback's 127.0.0.1 only)."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


class Dns:
    """The names a test's DNS answers, changed as the test goes (DNS is outside the service)."""

    def __init__(self, **answers: str) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[Any]:
        self.asked.append(host)
        return [ip_address(self.answers[host])] if host in self.answers else []


@asynccontextmanager
async def delivering(
    dev_env: WorkflowEnvironment, database_url: str, root: Path, **worker_options: Any
) -> AsyncIterator[Api]:
    """The worker and the API as production builds them, with the same settings: the
    practices' secrets in `root`, and 127.0.0.1/32 as the region's own network."""
    settings = Settings(
        database_url=database_url,
        econsult_task_queue=unique("econsultation-outbound"),
        econsult_secrets_dir=str(root),
        outbound_allowed_networks=OWN_NETWORK,
    )
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        async with build_worker(dev_env.client, settings, **worker_options):
            app = create_app(settings, client=dev_env.client, sessions=sessions)
            async with (
                serving(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                yield Api(http, sessions, settings, dev_env.client, Tokens(settings))
    finally:
        await engine.dispose()


async def kept_endpoints(api: Api, party: Party, hooks: str, fhir: str) -> None:
    """The practice's record as kept in the store: written before these checks existed, or
    when its names still resolved to the practice's own servers."""
    own = endpoints(hooks, fhir)
    await Practices(api.sessions).put(
        Practice(
            practice_id=party.practice,
            name="B",
            webhook=PracticeWebhook.model_validate(own["webhook"]),
            record_system=PracticeRecordSystem.model_validate(own["record_system"]),
        )
    )


async def settled(api: Api, case_id: str) -> tuple[Notification, JournalEntry]:
    """The case's clinician notification and journal entry, once each was tried."""

    async def rows() -> tuple[list[Notification], list[JournalEntry]]:
        notes = await rows_of(api.sessions, Notification, case_id)
        entries = await rows_of(api.sessions, JournalEntry, case_id)
        return [n for n in notes if n.audience != "patient"], entries

    def tried(found: tuple[list[Notification], list[JournalEntry]]) -> bool:
        notes, entries = found
        return bool(
            notes
            and entries
            and all(n.sent_at is not None or n.failed_status is not None for n in notes)
            and all(e.external_status is not None for e in entries)
        )

    notes, entries = await eventually(rows, tried, within=60)
    assert tried((notes, entries)), "the practice's deliveries were tried"
    return notes[0], entries[0]


async def redelivered(api: Api, party: Party, note: Notification, entry: JournalEntry) -> None:
    for path in (
        f"/v1/notifications/{note.notification_key}/redeliver",
        f"/v1/journal-entries/{entry.entry_key}/redeliver",
    ):
        answer = await api.http.post(path, headers=party.admin)
        assert answer.status_code == 202, answer.text

    async def rows() -> tuple[Notification | None, JournalEntry | None]:
        async with api.sessions() as session:
            return (
                await session.scalar(select(Notification).where(Notification.id == note.id)),
                await session.scalar(select(JournalEntry).where(JournalEntry.id == entry.id)),
            )

    found = await eventually(
        rows, lambda got: bool(got[0] and got[0].sent_at and got[1] and got[1].external_id)
    )
    assert found[0] is not None and found[0].sent_at is not None
    assert found[1] is not None and found[1].external_status == 201


def inside_and_own() -> tuple[str, WebhookReceiver, FhirServer, WebhookReceiver, FhirServer]:
    """A practice's webhook key, the receivers inside (never to be reached) that would take its
    deliveries, and its own receivers."""
    key = new_secret()
    inside_fhir = FhirServer()
    own_fhir = FhirServer(client_secret=inside_fhir.client_secret)
    return key, WebhookReceiver([key]), inside_fhir, WebhookReceiver([key]), own_fhir


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == REFUSED_LINE]


async def test_an_endpoint_kept_pointing_inside_is_not_contacted_and_refused_for_good(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    key, inside_hooks, inside_fhir, own_hooks, own_fhir = inside_and_own()
    async with (
        serving_on(inside_hooks.app(), INSIDE, free_port()) as inside_hooks_url,
        serving_on(inside_fhir.app(), INSIDE, free_port()) as inside_fhir_url,
        serving(own_hooks.app()) as own_hooks_url,
        serving(own_fhir.app()) as own_fhir_url,
        delivering(dev_env, postgres_url, root) as api,
    ):
        party = api.party()
        secret_files(root, party.practice, key, inside_fhir.client_secret)
        await seed_clinicians(api.http, party)
        await kept_endpoints(api, party, f"{inside_hooks_url}/hooks", inside_fhir_url)

        case = await create(api.http, party)
        note, entry = await settled(api, case["id"])

        assert inside_hooks.deliveries == [] and inside_fhir.posts == []
        assert inside_fhir.tokens_issued == 0, "the client secret never went inside"
        assert (note.sent_at, note.failed_status, entry.external_status) == (None, 403, 403)
        logged = {getattr(line, "notification_key", None) for line in refusal_lines(caplog)}
        logged |= {getattr(line, "entry_key", None) for line in refusal_lines(caplog)}
        assert {note.notification_key, entry.entry_key} <= logged

        # The operator fixes the practice's endpoints, then asks for each item again.
        body = {"name": "B", **endpoints(f"{own_hooks_url}/hooks", own_fhir_url)}
        put = await api.http.put(f"/v1/practices/{party.practice}", json=body, headers=party.admin)
        assert put.status_code == 200, put.text
        await redelivered(api, party, note, entry)
        assert own_hooks.ids() == [note.notification_key] and len(own_fhir.resources) == 1
        assert inside_hooks.deliveries == [] and inside_fhir.posts == []


async def test_a_name_that_resolves_inside_at_delivery_is_not_contacted(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    key, inside_hooks, inside_fhir, own_hooks, own_fhir = inside_and_own()
    # The practice's names now answer an inside address; each port is the same on both.
    hooks_port, fhir_port = free_port(), free_port()
    dns = Dns(**{"hooks.b.test": INSIDE, "epj.b.test": INSIDE})
    async with (
        serving_on(inside_hooks.app(), INSIDE, hooks_port),
        serving_on(inside_fhir.app(), INSIDE, fhir_port),
        serving_on(own_hooks.app(), "127.0.0.1", hooks_port),
        serving_on(own_fhir.app(), "127.0.0.1", fhir_port),
        delivering(dev_env, postgres_url, root, resolver=dns.resolve) as api,
    ):
        party = api.party()
        secret_files(root, party.practice, key, inside_fhir.client_secret)
        await seed_clinicians(api.http, party)
        hooks, fhir = f"http://hooks.b.test:{hooks_port}/hooks", f"http://epj.b.test:{fhir_port}"
        await kept_endpoints(api, party, hooks, fhir)

        case = await create(api.http, party)
        note, entry = await settled(api, case["id"])

        assert {"hooks.b.test", "epj.b.test"} <= set(dns.asked), "checked after DNS"
        assert inside_hooks.deliveries == [] and inside_fhir.tokens_issued == 0
        assert (note.failed_status, entry.external_status) == (403, 403)
        assert len(refusal_lines(caplog)) >= 2

        # DNS is put right: the names answer the practice's own servers again.
        dns.answers = {"hooks.b.test": "127.0.0.1", "epj.b.test": "127.0.0.1"}
        await redelivered(api, party, note, entry)
        assert own_hooks.ids() == [note.notification_key] and len(own_fhir.resources) == 1
        assert inside_hooks.deliveries == [] and inside_fhir.posts == []


async def test_a_redirect_to_inside_is_not_followed(
    dev_env: WorkflowEnvironment, postgres_url: str, root: Path
) -> None:
    key = new_secret()
    inside = WebhookReceiver([key])
    redirects: list[str] = []
    redirecting = FastAPI()
    async with serving_on(inside.app(), INSIDE, free_port()) as inside_url:

        @redirecting.post("/hooks")
        async def moved() -> RedirectResponse:
            redirects.append("hooks")
            return RedirectResponse(f"{inside_url}/hooks", status_code=307)

        async with (
            serving(redirecting) as own_url,
            delivering(dev_env, postgres_url, root) as api,
        ):
            party = api.party()
            secret_files(root, party.practice, key, "client-secret")
            await seed_clinicians(api.http, party)
            body = {"name": "B", "webhook": {"url": f"{own_url}/hooks", "secret_refs": ["hook"]}}
            put = await api.http.put(
                f"/v1/practices/{party.practice}", json=body, headers=party.admin
            )
            assert put.status_code == 200, put.text

            await create(api.http, party)

            async def asked() -> int:
                return len(redirects)

            await eventually(asked, lambda times: times >= 2, within=30)
            assert len(redirects) >= 2, "the delivery was tried, and retried after the redirect"
            assert inside.deliveries == []


async def test_the_connection_goes_to_the_address_that_was_checked(root: Path) -> None:
    """A name that answers the region's own address when checked and an inside one a moment
    later (DNS rebinding) reaches the checked address: nothing looks the name up again."""
    from infra.outbound import OutboundPolicy

    port = free_port()
    first, second = WebhookReceiver([new_secret()]), WebhookReceiver([new_secret()])
    dns = Dns(**{"rebind.test": "127.0.0.1"})

    async def rebinding(host: str, port: int) -> list[Any]:
        answer = await dns.resolve(host, port)
        dns.answers[host] = INSIDE
        return answer

    policy = OutboundPolicy.from_setting(OWN_NETWORK, rebinding)
    async with (
        serving_on(first.app(), "127.0.0.1", port),
        serving_on(second.app(), INSIDE, port),
        policy.client(httpx.Timeout(5.0)) as client,
    ):
        answer = await client.post(f"http://rebind.test:{port}/hooks", content="{}")

    assert answer.status_code == 204
    assert (len(first.deliveries), second.deliveries, dns.asked) == (1, [], ["rebind.test"])
