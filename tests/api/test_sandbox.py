"""The sandbox's operations over real HTTP: the test clock on Temporal's time-skipping test
server (as `make sandbox` runs it), test events through the notifications' signer to receivers
written here, and both paths 404 outside the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client

from dev.harness.ports import free_port, serving
from dev.sandbox import register_search_attributes
from infra.settings import Settings
from infra.temporal import data_converter
from tests.api.support import Api, api_over_http, assert_problem, create, seed_clinicians

PATHS = ["/v1/sandbox/clock", "/v1/sandbox/test-events"]
PORTAL_SECRET = "whsec_" + "cG9ydGFsLXNlY3JldC1mb3ItdGhlLXNhbmRib3g="
PRACTICE_SECRET = "whsec_" + "cHJhY3RpY2Utc2VjcmV0LWZvci10aGUtc2FuZGJveA=="
OWN_SECRET = "whsec_" + "b3duLXNlY3JldC1vZi10aGUtcHJhY3RpY2UtaGVyZQ=="


class Receiver:
    """What lies outside the service: webhook receivers answering `status`, keeping every
    delivery with its headers."""

    def __init__(self) -> None:
        self.status = 204
        self.deliveries: list[tuple[str, dict[str, str], str]] = []
        self.app = FastAPI()

        @self.app.post("/{name}")
        async def receive(name: str, request: Request) -> Response:
            body = (await request.body()).decode()
            self.deliveries.append((name, dict(request.headers), body))
            return Response(status_code=self.status)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    async with serving(hooks.app) as url:
        yield hooks, url


@pytest.fixture(scope="module")
async def sandbox_api(
    sandbox_temporal: str,
    sqlite_url: str,
    receiver: tuple[Receiver, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    await register_search_attributes(sandbox_temporal)
    client = await Client.connect(sandbox_temporal, data_converter=data_converter(Settings()))
    secrets_dir = tmp_path_factory.mktemp("secrets")
    settings = {
        "econsult_sandbox": True,
        "webhook_portal_url": f"{receiver[1]}/portal",
        "webhook_portal_secrets": PORTAL_SECRET,
        "webhook_practice_url": f"{receiver[1]}/practice",
        "webhook_practice_secrets": PRACTICE_SECRET,
        "econsult_secrets_dir": str(secrets_dir),
        "outbound_allowed_networks": "127.0.0.0/8",
    }
    async with api_over_http(client, sqlite_url, settings=settings) as api:
        yield api


@pytest.fixture
def hooks(receiver: tuple[Receiver, str]) -> Iterator[Receiver]:
    receiver[0].deliveries.clear()
    receiver[0].status = 204
    yield receiver[0]


async def clock(api: Api, advance: Any, token: dict[str, str] | None = None) -> httpx.Response:
    headers = token or api.party().admin
    return await api.http.post(PATHS[0], json={"advance": advance}, headers=headers)


async def send_test_event(api: Api, **body: Any) -> httpx.Response:
    return await api.http.post(PATHS[1], json=body, headers=api.party().admin)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", PATHS)
async def test_outside_the_sandbox_both_paths_are_404_whatever_the_method(
    sqlite_api: Api, path: str, method: str
) -> None:
    body = {"advance": "P1D", "audience": "patient"}
    headers = sqlite_api.party().admin
    answer = await sqlite_api.http.request(method, path, json=body, headers=headers)

    assert answer.status_code == 404, answer.text


async def test_both_operations_are_documented_as_sandbox_only(sqlite_api: Api) -> None:
    document = (await sqlite_api.http.get("/openapi.json")).json()

    for path in PATHS:
        operation = document["paths"][path]["post"]
        assert operation["tags"] == ["sandbox"]
        assert operation["description"].startswith("Sandbox only (404 elsewhere).")


@pytest.mark.parametrize(
    "advance", ["-P1D", "P0D", "PT0S", "P61D", "P1Y", "six days", "", 3600, None]
)
async def test_the_clock_refuses_an_advance_that_is_not_a_positive_duration_of_at_most_60_days(
    sandbox_api: Api, advance: Any
) -> None:
    assert_problem(await clock(sandbox_api, advance), 422)


async def test_the_clock_needs_the_admin_scope(sandbox_api: Api) -> None:
    answer = await clock(sandbox_api, "P1D", sandbox_api.party().service)

    assert_problem(answer, 403)


async def test_advancing_the_clock_fires_the_timers_due_and_answers_the_new_time(
    sandbox_api: Api,
) -> None:
    party = sandbox_api.party()
    await seed_clinicians(sandbox_api.http, party)
    draft = await create(sandbox_api.http, party, message=None)
    created_at = datetime.fromisoformat(draft["created_at"])

    answer = await clock(sandbox_api, "P1DT1H")

    assert answer.status_code == 200, answer.text
    assert answer.json()["advanced"] == "P1DT1H"
    assert datetime.fromisoformat(answer.json()["now"]) >= created_at + timedelta(days=1, hours=1)
    # The draft's 24 hours passed on the way: it expired before the answer.
    read = await sandbox_api.http.get(f"/v1/consultations/{draft['id']}", headers=party.service)
    assert read.json()["status"] == "expired"


async def test_a_test_event_reaches_the_audiences_webhook_signed_as_notifications_are(
    sandbox_api: Api, hooks: Receiver
) -> None:
    answer = await send_test_event(sandbox_api, audience="patient")

    assert answer.status_code == 200, answer.text
    sent = answer.json()
    assert sent["endpoint"] == "service"
    assert sent["url"].endswith("/portal")
    assert sent["status"] == 204
    [(name, headers, body)] = hooks.deliveries
    assert name == "portal"
    assert headers["webhook-id"] == sent["webhook_id"]
    Webhook(PORTAL_SECRET).verify(body, headers)
    envelope = json.loads(body)
    assert envelope["type"] == "econsult.test"
    assert envelope["data"] == {
        "audience": "patient",
        "practice_id": None,
        "occurred_at": envelope["timestamp"],
    }


async def test_a_practice_test_event_goes_to_its_own_webhook_else_the_service_wide_one(
    sandbox_api: Api, hooks: Receiver, receiver: tuple[Receiver, str]
) -> None:
    party = sandbox_api.party()
    own = Path(sandbox_api.settings.econsult_secrets_dir or "") / party.practice
    own.mkdir()
    (own / "hook").write_text(OWN_SECRET)
    practice = {
        "name": "Legesenteret",
        "webhook": {"url": f"{receiver[1]}/own", "secret_refs": ["hook"]},
    }
    put = await sandbox_api.http.put(
        f"/v1/practices/{party.practice}", json=practice, headers=party.admin
    )
    assert put.status_code in (200, 201), put.text

    own_event = await send_test_event(sandbox_api, audience="practice", practice_id=party.practice)
    other = await send_test_event(sandbox_api, audience="clinician", practice_id="no-such-practice")

    assert own_event.json()["endpoint"] == "practice"
    assert other.json()["endpoint"] == "service"
    [(first, first_headers, first_body), (second, second_headers, second_body)] = hooks.deliveries
    assert (first, second) == ("own", "practice")
    Webhook(OWN_SECRET).verify(first_body, first_headers)
    Webhook(PRACTICE_SECRET).verify(second_body, second_headers)
    assert json.loads(first_body)["data"]["practice_id"] == party.practice


async def test_a_receiver_that_fails_is_a_502_problem(sandbox_api: Api, hooks: Receiver) -> None:
    hooks.status = 500

    answer = await send_test_event(sandbox_api, audience="patient")

    problem = assert_problem(answer, 502)
    assert problem["type"] == "urn:econsult:problem:webhook-failed"
    assert "HTTP 500" in problem["detail"]
    assert len(hooks.deliveries) == 1  # once, not retried


async def test_a_receiver_that_cannot_be_reached_is_a_502_problem(
    sandbox_temporal: str, sqlite_url: str
) -> None:
    client = await Client.connect(sandbox_temporal, data_converter=data_converter(Settings()))
    closed = f"http://127.0.0.1:{free_port()}/portal"
    settings = {
        "econsult_sandbox": True,
        "webhook_portal_url": closed,
        "webhook_portal_secrets": PORTAL_SECRET,
    }
    async with api_over_http(client, sqlite_url, settings=settings) as api:
        answer = await send_test_event(api, audience="patient")

    problem = assert_problem(answer, 502)
    assert "could not be reached" in problem["detail"]


async def test_an_audience_without_a_webhook_is_refused(
    sandbox_temporal: str, sqlite_url: str
) -> None:
    client = await Client.connect(sandbox_temporal, data_converter=data_converter(Settings()))
    async with api_over_http(client, sqlite_url, settings={"econsult_sandbox": True}) as api:
        answer = await send_test_event(api, audience="practice")

    problem = assert_problem(answer, 422)
    assert problem["type"] == "urn:econsult:problem:refused"


async def test_the_answer_names_the_receiver_without_its_credentials(
    sandbox_temporal: str, sqlite_url: str, receiver: tuple[Receiver, str], hooks: Receiver
) -> None:
    client = await Client.connect(sandbox_temporal, data_converter=data_converter(Settings()))
    host = receiver[1].removeprefix("http://")
    settings = {
        "econsult_sandbox": True,
        "webhook_portal_url": f"http://user:pass-word@{host}/portal?key=query-secret",
        "webhook_portal_secrets": PORTAL_SECRET,
    }
    async with api_over_http(client, sqlite_url, settings=settings) as api:
        answer = await send_test_event(api, audience="patient")

    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == f"{receiver[1]}/portal"
    assert "pass-word" not in answer.text and "query-secret" not in answer.text
    assert len(hooks.deliveries) == 1
