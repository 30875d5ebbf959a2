"""The Idempotency-Key register: per caller and key, the request it stood for and its answer.

A key is claimed before its command reaches the workflow and answered once the command has
an outcome; the first answer is kept and replayed to every repeat until the key expires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.idempotent import insert_once
from store.tables import IdempotencyKey

KEYS_KEPT_FOR = timedelta(hours=24)


class KeyedCommand(BaseModel):
    """The command a key was first used for and, once it has one, its answer."""

    request_sha256: str
    consultation_id: str
    status_code: int | None = None
    answer: str | None = None

    @property
    def answered(self) -> bool:
        return self.status_code is not None and self.answer is not None


def _keyed(row: IdempotencyKey) -> KeyedCommand:
    return KeyedCommand.model_validate(row, from_attributes=True)


class CommandKeys:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], kept_for: timedelta = KEYS_KEPT_FOR
    ) -> None:
        self._sessions = sessions
        self._kept_for = kept_for

    async def find(self, caller: str, key: str) -> KeyedCommand | None:
        """What the caller's key stands for, unless it is unknown or has expired."""
        async with self._sessions() as session:
            row = await session.get(IdempotencyKey, (caller, key))
            if row is None or row.expires_at <= datetime.now(UTC):
                return None
            return _keyed(row)

    async def claim(
        self, caller: str, key: str, request_sha256: str, consultation_id: str
    ) -> KeyedCommand:
        """Register the key for this request, or return what an earlier request registered."""
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            # An expired key is free again: its first use no longer binds it.
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.caller == caller,
                    IdempotencyKey.key == key,
                    IdempotencyKey.expires_at <= now,
                )
            )
            await insert_once(
                session,
                IdempotencyKey,
                {
                    "caller": caller,
                    "key": key,
                    "request_sha256": request_sha256,
                    "consultation_id": consultation_id,
                    "created_at": now,
                    "expires_at": now + self._kept_for,
                },
                ["caller", "key"],
            )
            row = await session.get(IdempotencyKey, (caller, key))
            assert row is not None
            return _keyed(row)

    async def answer(self, caller: str, key: str, status_code: int, answer: str) -> KeyedCommand:
        """Keep the command's answer unless another request answered it first; the kept one."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.caller == caller,
                    IdempotencyKey.key == key,
                    IdempotencyKey.status_code.is_(None),
                )
                .values(status_code=status_code, answer=answer, answered_at=datetime.now(UTC))
            )
            row = await session.scalar(
                select(IdempotencyKey)
                .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
                .execution_options(populate_existing=True)
            )
            assert row is not None
            return _keyed(row)

    async def forget_expired(self, now: datetime | None = None) -> int:
        """Delete the keys past their expiry; how many went."""
        async with self._sessions.begin() as session:
            gone = await session.scalars(
                delete(IdempotencyKey)
                .where(IdempotencyKey.expires_at <= (now or datetime.now(UTC)))
                .returning(IdempotencyKey.key)
            )
            return len(gone.all())
