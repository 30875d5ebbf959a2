"""Engine and session factory for the case store, from a `DATABASE_URL`."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as db
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Accept the plain URLs people write and pick the async drivers this service ships."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}.get(
        parsed.drivername
    )
    if parsed.drivername == "postgresql+psycopg2":
        driver = "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(False) if driver else url


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic, bulk loads)."""
    parsed = make_url(async_url(url))
    driver = {"sqlite+aiosqlite": "sqlite"}.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(False)


def ensure_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; the busy timeout waits out short locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(
    url: str, *, ping_idle_after_seconds: float | None = None, **kwargs: Any
) -> AsyncEngine:
    """An engine for `url`; with `ping_idle_after_seconds` (and `pool_pre_ping=False`) only a
    connection idle in the pool at least that long is pinged when checked out."""
    url = async_url(url)
    ensure_sqlite_folder(url)
    if make_url(url).get_backend_name() == "postgresql":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if ping_idle_after_seconds is not None:
        _ping_when_idle(engine, ping_idle_after_seconds)
    _engines.add(engine.sync_engine)
    for callback in _on_each_engine:
        callback(engine.sync_engine)
    return engine


_IDLE_SINCE = "econsult_idle_since"


def _ping_when_idle(engine: AsyncEngine, seconds: float) -> None:
    """Pre-ping, but only for a connection that has waited in the pool `seconds` or more.

    The server or a middlebox drops connections that sit idle (a restart, a failover, an idle
    timeout); those are the stale ones pre-ping guards against. A connection back in the
    pool a moment ago was just used, so a busy process sends no ping at all. A dead one
    invalidates the whole pool, as a failed pre-ping does: the connection is replaced and so
    is every older one, each on its next checkout.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool retries the checkout on a new connection (and raises if none comes).
            raise db.InvalidatePoolError() from error

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checked_out)


# The sync engines this process created, and what runs on each (infra/telemetry.py traces
# their statements once the process exports spans): the store imports no other layer.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_on_each_engine: list[Callable[[Engine], None]] = []


def each_engine(callback: Callable[[Engine], None]) -> None:
    """Run `callback` on every engine created so far and on each one created later (once per
    callback)."""
    if callback in _on_each_engine:
        return
    _on_each_engine.append(callback)
    for engine in list(_engines):
        callback(engine)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncConnection]:
    """A pooled connection outside any transaction, for Core statements each of which stands
    alone: reads whose every SELECT is consistent on its own (one statement, one snapshot) and
    single-statement writes (an insert-once, an upsert, an update by key). No ORM session, no
    BEGIN and COMMIT or ROLLBACK round trips. Statements that must see one snapshot together,
    or writes that must land together, need a session."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine), "sessions bound to an engine"
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
