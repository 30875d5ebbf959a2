"""Practices: each practice's own settings, kept by admins, read by the API and the worker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.idempotent import upsert_newer
from store.tables import Practice as PracticeRow
from store.tables import PracticeClosedDay


class PracticeWebhook(BaseModel):
    """Where the practice's clinician and practice events go; secrets by file name."""

    url: str
    secret_refs: list[str]


class RecordSystemAuth(StrEnum):
    """How the service authenticates at the record system's token endpoint."""

    # The client id and a shared secret as HTTP Basic (record systems outside HelseID).
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method's name)
    # An RFC 7523 client assertion signed with the practice's private key, as HelseID requires.
    PRIVATE_KEY_JWT = "private_key_jwt"


class PracticeRecordSystem(BaseModel):
    """The FHIR server the practice's journal entries go to, and how the service gets a token
    for it; its secrets by file name."""

    fhir_base_url: str
    token_url: str
    client_id: str
    auth: RecordSystemAuth = RecordSystemAuth.CLIENT_SECRET_BASIC
    client_secret_ref: str | None = None
    client_assertion_key_ref: str | None = None
    # Tokens bound to a key of the service's, each request with a proof (RFC 9449).
    dpop: bool = False
    scope: str | None = None


class Practice(BaseModel):
    """A practice record; a practice without one gets the service-wide defaults."""

    practice_id: str
    name: str
    decline_message: str | None = None
    # Off: no new e-consultations for any of its clinicians.
    accepts_econsultations: bool = True
    # Not working days for a deadline computed from now on (a running one is not moved); kept
    # as a set, answered in order.
    closed_days: Annotated[list[date], AfterValidator(lambda days: sorted(set(days)))] = []
    webhook: PracticeWebhook | None = None
    record_system: PracticeRecordSystem | None = None


def _columns(practice: Practice) -> dict[str, Any]:
    """Nested in the model, flat in the table: one column per endpoint field."""
    webhook, record_system = practice.webhook, practice.record_system
    shown_elsewhere = {"webhook", "record_system", "closed_days"}
    return practice.model_dump(mode="python", exclude=shown_elsewhere) | {
        "webhook_url": webhook.url if webhook else None,
        "webhook_secret_refs": list(webhook.secret_refs) if webhook else None,
        "fhir_base_url": record_system.fhir_base_url if record_system else None,
        "fhir_token_url": record_system.token_url if record_system else None,
        "fhir_client_id": record_system.client_id if record_system else None,
        "fhir_client_secret_ref": record_system.client_secret_ref if record_system else None,
        "fhir_scope": record_system.scope if record_system else None,
        "fhir_auth": record_system.auth.value if record_system else None,
        "fhir_client_assertion_key_ref": (
            record_system.client_assertion_key_ref if record_system else None
        ),
        "fhir_dpop": record_system.dpop if record_system else False,
    }


def _practice(row: PracticeRow, closed_days: list[date]) -> Practice:
    webhook = None
    if row.webhook_url is not None:
        webhook = PracticeWebhook(url=row.webhook_url, secret_refs=row.webhook_secret_refs or [])
    record_system = None
    if row.fhir_base_url is not None:
        record_system = PracticeRecordSystem(
            fhir_base_url=row.fhir_base_url,
            token_url=row.fhir_token_url or "",
            client_id=row.fhir_client_id or "",
            # A record kept before 0016_record_system_auth has no auth: it meant Basic.
            auth=row.fhir_auth or RecordSystemAuth.CLIENT_SECRET_BASIC,
            client_secret_ref=row.fhir_client_secret_ref,
            client_assertion_key_ref=row.fhir_client_assertion_key_ref,
            dpop=row.fhir_dpop,
            scope=row.fhir_scope,
        )
    return Practice(
        practice_id=row.practice_id,
        name=row.name,
        decline_message=row.decline_message,
        accepts_econsultations=row.accepts_econsultations,
        closed_days=closed_days,
        webhook=webhook,
        record_system=record_system,
    )


class Practices:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def put(self, practice: Practice) -> None:
        """Create or replace the practice's record and its closed days in one transaction (a
        PUT: every field as given)."""
        values = _columns(practice) | {"updated_at": datetime.now(UTC)}
        key = practice.practice_id
        async with self._sessions.begin() as session:
            if not await upsert_newer(session, PracticeRow, values, ["practice_id"], "updated_at"):
                return
            await session.execute(delete(PracticeClosedDay).where(_of(key)))
            session.add_all(
                PracticeClosedDay(practice_id=key, day=day) for day in practice.closed_days
            )

    async def get(self, practice_id: str) -> Practice | None:
        async with self._sessions() as session:
            row = await session.get(PracticeRow, practice_id)
            if row is None:
                return None
            days = await session.scalars(
                select(PracticeClosedDay.day)
                .where(_of(practice_id))
                .order_by(PracticeClosedDay.day)
            )
            return _practice(row, list(days))


def _of(practice_id: str) -> Any:
    return PracticeClosedDay.practice_id == practice_id
