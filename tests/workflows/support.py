"""What the workflow tests share: a worker over a store that holds the demo directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tests.support import running_worker, seed_directory


@asynccontextmanager
async def seeded_worker(
    env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    **worker: Any,
) -> AsyncIterator[str]:
    """The directory seeded, then a worker on a task queue of its own for the block's time."""
    await seed_directory(sessions)
    async with running_worker(env.client, database_url, **worker) as task_queue:
        yield task_queue
