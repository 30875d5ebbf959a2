"""Insert-or-ignore on a unique key: the database, not hope, makes a retried write harmless."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_once(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], key: list[str]
) -> bool:
    """Insert `values` unless a row with the same `key` columns exists; True if inserted."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=key)
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
