"""One Temporal dev server, worker and API server (real HTTP) per backend, for the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from tests.api.support import Party, Tokens
from tests.support import running_worker


@dataclass
class Api:
    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    client: Client
    tokens: Tokens

    def party(self) -> Party:
        return Party(self.tokens)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """uvicorn in this event loop, on a free port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def api_stack(env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Api]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        async with running_worker(env.client, database_url) as task_queue:
            # One admin and one portal token serve the whole session here, so the per-caller
            # write limit is lifted; its own tests are in tests/security/test_hardening.py.
            settings = Settings(
                database_url=database_url, econsult_task_queue=task_queue, api_write_burst=100_000
            )
            app = create_app(settings, client=env.client, sessions=sessions)
            async with (
                serving(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                yield Api(http, sessions, settings, env.client, Tokens(settings))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def api(dev_env: WorkflowEnvironment, postgres_url: str) -> AsyncIterator[Api]:
    """The API on PostgreSQL, the production case store."""
    async with api_stack(dev_env, postgres_url) as stack:
        yield stack


@pytest.fixture(scope="session")
async def sqlite_api(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    """The API on SQLite, the development case store."""
    async with api_stack(dev_env, sqlite_url) as stack:
        yield stack


@pytest.fixture(params=["postgresql", "sqlite"])
def any_api(request: pytest.FixtureRequest) -> Api:
    """Runs a test once on each case store backend."""
    stack: Api = request.getfixturevalue("api" if request.param == "postgresql" else "sqlite_api")
    return stack


@pytest.fixture
def party(api: Api) -> Party:
    return api.party()
