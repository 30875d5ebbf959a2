"""What the store tests share: a case row to write, and a database at an older revision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dev.harness.databases import PostgresServer, alembic
from domain.models import ConsultationRecord, Status

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2027, 3, 24, 9, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Oslo


def record(
    consultation_id: str, revision: int, status: Status, **fields: Any
) -> ConsultationRecord:
    """A case of patient-1 for clinician 9100001, created at NOW."""
    return ConsultationRecord(
        consultation_id=consultation_id,
        patient_id="patient-1",
        clinician_id="9100001",
        recipient_id="9100001",
        practice_id="practice-1",
        status=status,
        created_at=NOW,
        revision=revision,
        **fields,
    )


def database_at(
    request: pytest.FixtureRequest, tmp_path: Path, revision: str, name: str
) -> Iterator[str]:
    """A fresh store migrated only up to `revision`, on the backend the fixture's param names."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
        alembic(url, "upgrade", revision)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.fresh_database(name, revision=revision) as url:
        yield url
