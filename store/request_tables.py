"""What the case store keeps of the API's callers and their requests: each read of a case's
content (the access log), Idempotency-Keys with their first answers, and DPoP proofs already
presented. Tables of the same schema as store/tables.py (one `Base`, one Alembic history)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.tables import BIG_ID, ID, Base


class AccessLogEntry(Base):
    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ID)
    actor_id: Mapped[str] = mapped_column(ID)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    # The practice a record system read for (its token's claim); None for other readers.
    practice_id: Mapped[str | None] = mapped_column(ID, nullable=True)

    __table_args__ = (Index("ix_access_log_consultation", "consultation_id", "at"),)


class IdempotencyKey(Base):
    """What an Idempotency-Key stands for: the first request's digest, its case, its answer.

    Scoped to the caller; kept until `expires_at` (at least 24 hours), so every API replica
    answers a retry the same way.
    """

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    consultation_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The first answer (status and JSON body), replayed to every repeat; null while running.
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime | None]


class DPoPProof(Base):
    """A DPoP proof already presented (by the SHA-256 of its `jti`), until it could no longer
    be accepted anyway: every API replica refuses its replay."""

    __tablename__ = "dpop_proofs"

    jti_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
