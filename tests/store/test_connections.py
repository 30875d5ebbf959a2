"""Pooled connections on PostgreSQL without pre-ping: one idle long enough is pinged (and
replaced if the server cut it); one used a moment ago is not, so a cut one fails once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest
from sqlalchemy import exc as db
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dev.harness.databases import PostgresServer
from store.database import autocommit, create_engine, create_session_factory


@asynccontextmanager
async def one_connection_pool(
    url: str, ping_idle_after_seconds: float
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(
        url,
        pool_pre_ping=False,
        ping_idle_after_seconds=ping_idle_after_seconds,
        pool_size=1,
        max_overflow=0,
    )
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def backend_pid(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with autocommit(sessions) as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def cut(server: PostgresServer, pid: int) -> None:
    """End the server side of a connection, as a restart or an idle timeout would."""
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} still there")


@asynccontextmanager
async def pool_with_a_cut_connection(
    server: PostgresServer, url: str, ping_idle_after_seconds: float
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], int]]:
    """A one-connection pool whose connection, used once, the server has cut (and its pid)."""
    async with one_connection_pool(url, ping_idle_after_seconds) as sessions:
        first = await backend_pid(sessions)
        await cut(server, first)
        yield sessions, first


async def test_a_connection_cut_while_idle_in_the_pool_is_replaced_on_checkout(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    async with pool_with_a_cut_connection(postgres_server, postgres_url, 0.0) as (sessions, first):
        assert await backend_pid(sessions) != first


async def test_a_connection_used_a_moment_ago_is_not_pinged_and_a_cut_fails_once(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    async with pool_with_a_cut_connection(postgres_server, postgres_url, 60.0) as (sessions, first):
        # What api/outages.py answers 503; the pool is invalidated, so the next one connects.
        with pytest.raises(db.OperationalError):
            await backend_pid(sessions)
        assert await backend_pid(sessions) != first
