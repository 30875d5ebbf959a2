"""The case store the store tests write to: one engine per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from store.database import create_engine, create_session_factory
from tests.store.support import Sessions


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()
