"""Insert-or-ignore on a unique key: the database, not hope, makes a retried write harmless."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_once(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], key: list[str]
) -> bool:
    """Insert `values` unless a row with the same `key` columns exists; True if inserted."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, model.__table__)
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(*(table.c[column] for column in key))
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped insert.
    return (await session.execute(statement)).first() is not None
