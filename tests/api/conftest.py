"""One Temporal dev server, worker and API server (real HTTP) per backend, for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.support import Api, Party, api_over_http

# One admin and one portal token serve the whole session here, so the per-caller write limit
# is lifted; its own tests are in tests/security/test_hardening.py.
SESSION_SETTINGS = {"api_write_burst": 100_000}


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
