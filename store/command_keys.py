"""The Idempotency-Key register: per caller and key, the request it stood for and its answer.

A key is claimed before its command reaches the workflow and answered once the command has
an outcome; the first answer is kept and replayed to every repeat until the key expires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Row, Table, bindparam, case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.database import autocommit
from store.idempotent import insert_for
from store.request_tables import IdempotencyKey

KEYS_KEPT_FOR = timedelta(hours=24)


class KeyedCommand(BaseModel):
    """The command a key was first used for and, once it has one, its answer."""

    request_sha256: str
    consultation_id: str
    # When the request that claimed the key did; with caller and key, names one claim.
    created_at: datetime
    status_code: int | None = None
    answer: str | None = None
    # Set by `claim`: this request registered the key (it was free).
    new: bool = False

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


# What a claim writes, and takes over from an expired key.
_CLAIMED = (
    "request_sha256",
    "consultation_id",
    "created_at",
    "expires_at",
    "status_code",
    "answer",
    "answered_at",
)
_RELEASED = delete(_KEYS).where(
    _KEYS.c.caller == bindparam("the_caller"),
    _KEYS.c.key == bindparam("the_key"),
    _KEYS.c.created_at == bindparam("the_created_at"),
    _KEYS.c.status_code.is_(None),
)


def _keyed(row: Row[Any]) -> KeyedCommand:
    return KeyedCommand.model_validate(row._mapping)


class CommandKeys:
    """Each operation is one statement, atomic alone, on an autocommit connection; `answer`
    reads a second only when another request answered the key first."""

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
        """Register the key for this request, or return what an earlier request registered
        (and its answer, if it has one): one statement either way.

        An expired key is free again: its row is taken over. A live one is returned as it is
        (the upsert writes its own values back, which is what makes it return the row).
        """
        now = datetime.now(UTC)
        async with autocommit(self._sessions) as connection:
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
            expired = _KEYS.c.expires_at <= now
            statement = statement.on_conflict_do_update(
                index_elements=[_KEYS.c.caller, _KEYS.c.key],
                set_={
                    name: case((expired, statement.excluded[name]), else_=_KEYS.c[name])
                    for name in _CLAIMED
                },
            ).returning(*_KEYS.c)
            row = (await connection.execute(statement)).one()
        claimed = _keyed(row)
        claimed.new = claimed.created_at == now and claimed.request_sha256 == request_sha256
        return claimed

    async def release(self, caller: str, key: str, claimed: KeyedCommand) -> None:
        """Free a key this request claimed and answered nothing under (an answer given before
        the command was sent), so a corrected retry may use it; another's claim stays."""
        async with autocommit(self._sessions) as connection:
            await connection.execute(
                _RELEASED,
                {"the_caller": caller, "the_key": key, "the_created_at": claimed.created_at},
            )

    async def answer(
        self, caller: str, key: str, status_code: int, answer: str
    ) -> KeyedCommand | None:
        """Keep the command's answer unless another request answered it first; the kept one
        (None if the key was released meanwhile)."""
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
        if row is None:
            # Released meanwhile by a request that failed its checks: nothing else is kept.
            return None
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
