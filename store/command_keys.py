"""The Idempotency-Key register: per caller and key, the request it stood for and its answer.

A key is claimed before its command reaches the workflow and answered once the command has
an outcome; the first answer is kept and replayed to every repeat until the key expires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.database import autocommit
from store.idempotent import insert_for
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


_KEYS = cast(Table, IdempotencyKey.__table__)
_FOUND = select(_KEYS).where(_KEYS.c.caller == bindparam("caller"), _KEYS.c.key == bindparam("key"))
# An UPDATE's own bound names may not be its columns' names.
_ANSWERED = (
    update(_KEYS)
    .where(
        _KEYS.c.caller == bindparam("the_caller"),
        _KEYS.c.key == bindparam("the_key"),
        _KEYS.c.status_code.is_(None),
    )
    .values(
        status_code=bindparam("the_status_code"),
        answer=bindparam("the_answer"),
        answered_at=bindparam("the_answered_at"),
    )
    .returning(*_KEYS.c)
)


def _keyed(row: Row[Any]) -> KeyedCommand:
    return KeyedCommand.model_validate(row._mapping)


class CommandKeys:
    """Each operation is one statement, atomic alone, on an autocommit connection; a second
    (a read) only when the first found the key taken or answered by another request."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], kept_for: timedelta = KEYS_KEPT_FOR
    ) -> None:
        self._sessions = sessions
        self._kept_for = kept_for

    async def find(self, caller: str, key: str) -> KeyedCommand | None:
        """What the caller's key stands for, unless it is unknown or has expired."""
        async with autocommit(self._sessions) as connection:
            row = (await connection.execute(_FOUND, {"caller": caller, "key": key})).first()
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        return _keyed(row)

    async def claim(
        self, caller: str, key: str, request_sha256: str, consultation_id: str
    ) -> KeyedCommand:
        """Register the key for this request, or return what an earlier request registered."""
        async with autocommit(self._sessions) as connection:
            # Twice at most: a key that expires between the two statements is free again.
            for _ in range(2):
                now = datetime.now(UTC)
                claimed = _KEYS.c
                statement = insert_for(connection.dialect.name)(_KEYS).values(
                    caller=caller,
                    key=key,
                    request_sha256=request_sha256,
                    consultation_id=consultation_id,
                    created_at=now,
                    expires_at=now + self._kept_for,
                    status_code=None,
                    answer=None,
                    answered_at=None,
                )
                # An expired key is free again: its first use no longer binds it, so its row
                # is taken over; a live one is left as it is and read below.
                statement = statement.on_conflict_do_update(
                    index_elements=[claimed.caller, claimed.key],
                    set_={
                        name: statement.excluded[name]
                        for name in (
                            "request_sha256",
                            "consultation_id",
                            "created_at",
                            "expires_at",
                            "status_code",
                            "answer",
                            "answered_at",
                        )
                    },
                    where=claimed.expires_at <= now,
                ).returning(*_KEYS.c)
                row = (await connection.execute(statement)).first()
                if row is None:
                    row = (await connection.execute(_FOUND, {"caller": caller, "key": key})).first()
                if row is not None:
                    return _keyed(row)
        raise AssertionError("an Idempotency-Key neither claimed nor found")

    async def answer(self, caller: str, key: str, status_code: int, answer: str) -> KeyedCommand:
        """Keep the command's answer unless another request answered it first; the kept one."""
        async with autocommit(self._sessions) as connection:
            row = (
                await connection.execute(
                    _ANSWERED,
                    {
                        "the_caller": caller,
                        "the_key": key,
                        "the_status_code": status_code,
                        "the_answer": answer,
                        "the_answered_at": datetime.now(UTC),
                    },
                )
            ).first()
            if row is None:
                row = (await connection.execute(_FOUND, {"caller": caller, "key": key})).first()
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
