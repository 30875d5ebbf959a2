"""Insert-or-ignore on a unique key: the database, not hope, makes a retried write harmless."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _insert_for(session: AsyncSession) -> Any:
    return insert_for(session.bind.dialect.name if session.bind else "sqlite")


def insert_for(dialect: str) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL's and SQLite's are alike)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def upsert_newer(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    key: list[str],
    newer: str,
) -> bool:
    """Insert, or update the row only where `newer` grows; one statement. True if written."""
    table = cast(Table, model.__table__)
    statement = _insert_for(session)(table).values(**values)
    updates = {name: statement.excluded[name] for name in values if name not in key}
    statement = statement.on_conflict_do_update(
        index_elements=key,
        set_=updates,
        where=table.c[newer] < statement.excluded[newer],
    ).returning(*(table.c[column] for column in key))
    return (await session.execute(statement)).first() is not None


async def insert_once(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], key: list[str]
) -> bool:
    """Insert `values` unless a row with the same `key` columns exists; True if inserted."""
    table = cast(Table, model.__table__)
    statement = (
        _insert_for(session)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*(table.c[column] for column in key))
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped insert.
    return (await session.execute(statement)).first() is not None
