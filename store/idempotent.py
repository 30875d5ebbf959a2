"""Insert-or-ignore on a unique key: the database, not hope, makes a retried write harmless.

Each statement is built once per table, dialect and set of columns and then executed with the
row as its parameters: building an upsert (its `excluded` alias, one SET per column) costs
more CPU than sending it, and these run several times per consultation event.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _dialect(session: AsyncSession | AsyncConnection) -> str:
    if isinstance(session, AsyncConnection):
        return session.dialect.name
    return session.bind.dialect.name if session.bind else "sqlite"


def insert_for(dialect: str) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL's and SQLite's are alike)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _insert(dialect: str, table: Table) -> Any:
    return insert_for(dialect)(table)


@cache
def _upsert_newer(
    dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...], newer: str
) -> Executable:
    statement = _insert(dialect, table)
    return cast(
        Executable,
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in columns if name not in key},
            where=table.c[newer] < statement.excluded[newer],
        ).returning(*(table.c[column] for column in key)),
    )


@cache
def _insert_once(dialect: str, table: Table, key: tuple[str, ...]) -> Executable:
    return cast(
        Executable,
        _insert(dialect, table)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(*(table.c[column] for column in key)),
    )


async def upsert_newer(
    session: AsyncSession | AsyncConnection,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    key: list[str],
    newer: str,
) -> bool:
    """Insert, or update the row only where `newer` grows; one statement. True if written."""
    table = cast(Table, model.__table__)
    statement = _upsert_newer(_dialect(session), table, tuple(values), tuple(key), newer)
    return (await session.execute(statement, values)).first() is not None


async def insert_once(
    session: AsyncSession | AsyncConnection,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    key: list[str],
) -> bool:
    """Insert `values` unless a row with the same `key` columns exists; True if inserted."""
    table = cast(Table, model.__table__)
    statement = _insert_once(_dialect(session), table, tuple(key))
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped insert.
    return (await session.execute(statement, values)).first() is not None
