"""DPoP proofs already presented, by signing key and `jti`: the insert that records a proof
finds its replay.

Kept per key (its thumbprint): a client chooses its own `jti`s, so one key's proofs cannot
take the `jti`s another key will use, and no key can fill another's replay window.

Shared by every API replica, so a proof replayed to another replica is refused as well. Rows
are kept until the proof could no longer be accepted anyway; expired ones are deleted now and
then by the requests themselves.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.database import autocommit
from store.idempotent import insert_once
from store.request_tables import DPoPProof

PURGE_EVERY_SECONDS = 60.0

_PROOFS = cast(Table, DPoPProof.__table__)


def jti_digest(jkt: str, jti: str) -> str:
    """A fixed-size key for any `jti` the client chose, under its key's thumbprint (base64url,
    so it never contains the separator)."""
    return hashlib.sha256(f"{jkt}\n{jti}".encode()).hexdigest()


class DPoPProofs:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], purge_every: float = PURGE_EVERY_SECONDS
    ) -> None:
        self._sessions = sessions
        self._purge_every = purge_every
        self._purged_at: float | None = None

    async def first_use(self, jkt: str, jti: str, expires_at: datetime) -> bool:
        """Record the `jti` of a proof signed by key `jkt`; False if it was recorded before (a
        replay).

        One insert-once statement: of two requests with the same `jti`, on any replica, exactly
        one records it.
        """
        async with autocommit(self._sessions) as connection:
            first = await insert_once(
                connection,
                DPoPProof,
                {"jti_sha256": jti_digest(jkt, jti), "expires_at": expires_at},
                ["jti_sha256"],
            )
            if self._purge_due():
                await connection.execute(
                    delete(_PROOFS).where(_PROOFS.c.expires_at <= datetime.now(UTC))
                )
        return first

    def _purge_due(self) -> bool:
        now = time.monotonic()
        if self._purged_at is not None and now - self._purged_at < self._purge_every:
            return False
        self._purged_at = now
        return True
