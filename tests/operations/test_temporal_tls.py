"""TLS, mutual TLS and an API key to Temporal, against a real TLS endpoint: Debian's nginx in
front of the dev server, verifying client certificates on one port and a bearer key on another
(tests/operations/grpc_proxy.py).

A consultation's lifecycle runs through the API over each. A refused handshake or key stops the
worker and reconcile with one line naming the setting; the API, which connects lazily and
serves reads without Temporal, keeps serving: it logs one line naming the setting, answers
commands 503 and says so in /readyz. Migrations (alembic) never connect to Temporal.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from dev.harness.processes import Processes
from infra.settings import Settings
from infra.temporal import connect
from tests.api.support import (
    Party,
    Tokens,
    api_over_http,
    api_serving,
    assert_problem,
    create,
    create_body,
    message,
    seed_clinicians,
)
from tests.operations.certificates import Authority
from tests.operations.grpc_proxy import TlsFrontend, nginx_in_front_of
from tests.operations.test_startup_checks import API, WORKER, environment, refused
from tests.support import (
    WorkerProcess,
    captured_logs,
    temporal_address,
    worker_env,
)

RECONCILE = [sys.executable, "-m", "infra.reconcile"]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("temporal-ca"))


@pytest.fixture(scope="module")
def frontend(
    dev_env: WorkflowEnvironment, authority: Authority, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsFrontend]:
    folder = tmp_path_factory.mktemp("nginx")
    with nginx_in_front_of(
        temporal_address(dev_env), authority, folder, api_key=secrets.token_urlsafe(24)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def key_file(frontend: TlsFrontend, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-key") / "temporal-api-key"
    path.write_text(frontend.api_key + "\n")
    return path


def mutual_tls(frontend: TlsFrontend) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": frontend.mtls_address,
        "TEMPORAL_TLS_CA": str(frontend.ca),
        "TEMPORAL_TLS_CERT": str(frontend.client.cert),
        "TEMPORAL_TLS_KEY": str(frontend.client.key),
        # Dialled by IP, verified by name: the certificate carries both.
        "TEMPORAL_TLS_SERVER_NAME": "localhost",
    }


def api_key(frontend: TlsFrontend, key_file: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": frontend.api_key_address,
        "TEMPORAL_TLS_CA": str(frontend.ca),
        "TEMPORAL_API_KEY_FILE": str(key_file),
    }


@pytest.fixture(params=["mutual_tls", "api_key"])
def access(request: pytest.FixtureRequest, frontend: TlsFrontend, key_file: Path) -> dict[str, str]:
    """The settings of each way in: a client certificate, or an API key over TLS."""
    if request.param == "mutual_tls":
        return mutual_tls(frontend)
    return api_key(frontend, key_file)


def settings_of(environment: dict[str, str], **more: str) -> Settings:
    """Settings as a process reads them from `environment` (the test session's keys besides)."""
    fields: dict[str, Any] = {name.lower(): value for name, value in environment.items()}
    return Settings(**fields | more)


async def test_a_lifecycle_runs_through_the_api_over_tls(
    access: dict[str, str], sqlite_url: str
) -> None:
    client = await connect(settings_of(access))
    async with api_over_http(client, sqlite_url) as api:
        party = api.party()
        await seed_clinicians(api.http, party)
        case = await create(api.http, party, message="A rash for two weeks.")
        assert case["status"] == "awaiting_clinician"
        closed = await message(
            api.http, f"{case['id']}/replies", party.doctor, "Use the cream.", close=True
        )

    assert closed["status"] == "closed"
    assert [m["author_role"] for m in closed["messages"]] == ["patient", "clinician"]


async def test_a_worker_process_serves_over_tls(
    access: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    env = worker_env("", sqlite_url, f"econsultation-tls-{uuid.uuid4().hex[:8]}", **access)
    with Processes(tmp_path) as processes:
        worker = WorkerProcess(processes, env)
        worker.start()
        await worker.ready()
        assert await worker.terminate() == 0


@pytest.fixture(scope="module")
def other_authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("other-ca"), "some-other-ca")


REFUSALS = (
    "no_client_certificate",
    "certificate_of_another_ca",
    "wrong_ca",
    "wrong_server_name",
    "wrong_api_key",
)


@pytest.fixture(params=REFUSALS)
def refused_access(
    request: pytest.FixtureRequest,
    frontend: TlsFrontend,
    other_authority: Authority,
    tmp_path: Path,
) -> tuple[dict[str, str], str]:
    """Settings the endpoint refuses, and the setting a refusal must name."""
    case = request.param
    if case == "no_client_certificate":
        return {"TEMPORAL_ADDRESS": frontend.mtls_address, "TEMPORAL_TLS_CA": str(frontend.ca)}, (
            "TEMPORAL_TLS_CERT"
        )
    if case == "certificate_of_another_ca":
        stranger = other_authority.client("stranger", "stranger")
        settings = mutual_tls(frontend)
        settings.update(TEMPORAL_TLS_CERT=str(stranger.cert), TEMPORAL_TLS_KEY=str(stranger.key))
        return settings, "TEMPORAL_TLS_CERT"
    if case == "wrong_ca":
        return {**mutual_tls(frontend), "TEMPORAL_TLS_CA": str(other_authority.ca_file)}, (
            "TEMPORAL_TLS_CA"
        )
    if case == "wrong_server_name":
        return {**mutual_tls(frontend), "TEMPORAL_TLS_SERVER_NAME": "temporal.example"}, (
            "TEMPORAL_TLS_SERVER_NAME"
        )
    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key")
    return api_key(frontend, wrong), "TEMPORAL_API_KEY_FILE"


@pytest.mark.parametrize(
    ("command", "refused_access"),
    [
        *[(WORKER, case) for case in REFUSALS],
        (RECONCILE, "no_client_certificate"),
        (RECONCILE, "wrong_ca"),
    ],
    ids=[
        *[f"worker-{case}" for case in REFUSALS],
        "reconcile-no_client_certificate",
        "reconcile-wrong_ca",
    ],
    indirect=["refused_access"],
)
def test_a_refused_connection_stops_the_process_naming_the_setting(
    command: list[str], refused_access: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    settings, setting = refused_access

    line = refused(command, environment(tmp_path, **settings))

    assert "refuses to start" in line
    assert setting in line
    assert settings["TEMPORAL_ADDRESS"] in line


@pytest.mark.parametrize(
    ("command", "setting", "content"),
    [
        (API, "TEMPORAL_TLS_CA", None),
        (WORKER, "TEMPORAL_TLS_CERT", None),
        (RECONCILE, "TEMPORAL_API_KEY_FILE", None),
        (API, "TEMPORAL_TLS_KEY", "not a key"),
    ],
    ids=["api-missing", "worker-missing", "reconcile-missing", "api-not_pem"],
)
def test_a_tls_file_that_cannot_be_used_stops_the_process(
    command: list[str], setting: str, content: str | None, tmp_path: Path, frontend: TlsFrontend
) -> None:
    path = tmp_path / "temporal-file.pem"
    if content is not None:
        path.write_text(content)
    settings = {**mutual_tls(frontend), setting: str(path)}

    line = refused(command, environment(tmp_path, **settings))

    assert setting in line
    assert str(path) in line


@pytest.fixture
async def api_refused(
    refused_access: tuple[dict[str, str], str], sqlite_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings, str]]:
    settings, setting = refused_access
    refused_settings = settings_of(settings, database_url=sqlite_url)
    async with (
        api_serving(refused_settings) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        yield http, refused_settings, setting


async def test_the_api_refused_by_temporal_serves_reads_answers_commands_503_and_names_the_setting(
    api_refused: tuple[httpx.AsyncClient, Settings, str],
) -> None:
    http, settings, setting = api_refused
    party = Party(Tokens(settings))
    # Writes to the directory need no Temporal; a create does.
    await seed_clinicians(http, party)
    body = create_body(party, message="A rash.")

    with captured_logs() as logs:
        command = await http.post("/v1/consultations", json=body, headers=party.service)
        again = await http.post("/v1/consultations", json=body, headers=party.service)
        ready = await http.get("/readyz")
        read = await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)

    assert_problem(command, 503)
    assert command.headers["Retry-After"]
    assert_problem(again, 503)
    assert ready.status_code == 200, ready.text
    assert setting in ready.json()["checks"]["temporal"]
    assert ready.json()["checks"]["commands"].startswith("unavailable")
    assert read.status_code == 200, read.text
    outage = [
        json.loads(line) for line in logs.getvalue().splitlines() if "temporal unreachable" in line
    ]
    assert len(outage) == 1, logs.getvalue()
    assert setting in outage[0]["reason"]
