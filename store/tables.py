"""Typed SQLAlchemy 2 models of the case store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.models import Copayment, CopaymentStatus
from domain.parties import RepresentativeRef, RepresentativeRelation

# Stable constraint names, so migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
# BigInteger ids that still autoincrement on SQLite.
BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused by the case store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime()}


class Clinician(Base):
    __tablename__ = "clinicians"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    practice_id: Mapped[str] = mapped_column(ID)
    accepts_econsultations: Mapped[bool] = mapped_column(Boolean)
    reply_within_working_days: Mapped[int] = mapped_column(Integer, default=5)
    substitute_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    substitute_valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    substitute_valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    specialist_in_general_practice: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    updated_at: Mapped[datetime]


# --- parties: relations and absences ---


class PatientRelation(Base):
    """Whom a patient may write to: their regular GP or a treating clinician, between dates."""

    __tablename__ = "patient_relations"

    # The primary key leads with the patient: the recipients query reads one index range.
    patient_id: Mapped[str] = mapped_column(ID, primary_key=True)
    clinician_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime]


class ClinicianAbsence(Base):
    __tablename__ = "clinician_absences"

    clinician_id: Mapped[str] = mapped_column(ID, primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    ends_on: Mapped[date] = mapped_column(Date)


class PracticeClosedDay(Base):
    __tablename__ = "practice_closed_days"

    practice_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class Practice(Base):
    """A practice's own settings (decline text, its webhook and record system); a practice
    without a row, or without an endpoint, gets the service-wide defaults."""

    __tablename__ = "practices"

    practice_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    decline_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Off: no new e-consultations for any of its clinicians (0015_practice_accepts).
    accepts_econsultations: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    updated_at: Mapped[datetime]
    # Its own endpoints (0011_practice_endpoints). Secrets are names of files in
    # ECONSULT_SECRETS_DIR, never the secrets themselves.
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret_refs: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    fhir_base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    fhir_token_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    fhir_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    fhir_client_secret_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fhir_scope: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How the service authenticates to it (0016_record_system_auth): null, from before, is
    # client_secret_basic; the signing key is a file's name as the client secret is.
    fhir_auth: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fhir_client_assertion_key_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fhir_dpop: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    clinician_id: Mapped[str] = mapped_column(ID)
    recipient_id: Mapped[str] = mapped_column(ID)
    practice_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    reply_due_at: Mapped[datetime | None]
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(32))
    copayment_status: Mapped[str] = mapped_column(String(32), default="pending")
    copayment_tariff: Mapped[str | None] = mapped_column(String(16))
    copayment_amount_nok: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # Workflow revision of the last applied write: older (retried) writes are ignored.
    revision: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # The clinician's inbox: by recipient, optionally by status, ordered by deadline.
        Index("ix_consultations_inbox", "recipient_id", "reply_due_at", "id"),
        Index("ix_consultations_inbox_status", "recipient_id", "status", "reply_due_at", "id"),
        Index("ix_consultations_patient", "patient_id", "created_at", "id"),
    )

    # The co-payment is one nested shape everywhere else; here, and only here, it is flat.
    @property
    def copayment(self) -> Copayment:
        return Copayment(
            status=CopaymentStatus(self.copayment_status),
            tariff=self.copayment_tariff,
            amount_nok=self.copayment_amount_nok,
        )

    @staticmethod
    def copayment_of(row: Mapping[Any, Any]) -> Copayment:
        """The nested co-payment of a row read with Core (its columns by name)."""
        return Copayment(
            status=CopaymentStatus(row["copayment_status"]),
            tariff=row["copayment_tariff"],
            amount_nok=row["copayment_amount_nok"],
        )

    @staticmethod
    def copayment_columns(copayment: Copayment) -> dict[str, object]:
        return {
            "copayment_status": copayment.status.value,
            "copayment_tariff": copayment.tariff,
            "copayment_amount_nok": copayment.amount_nok,
        }


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    uploaded_by: Mapped[str] = mapped_column(ID)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    consultation_id: Mapped[str | None] = mapped_column(
        ForeignKey("consultations.id"), nullable=True, index=True
    )
    message_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[datetime]
    # Known from a message in Temporal's history, its content lost with a restored case store
    # (attachments never enter history): shown as missing, never silently gone.
    missing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultations.id"))
    author_role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str] = mapped_column(ID)
    body: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    # Set when someone wrote on the patient's behalf.
    representative_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    representative_relation: Mapped[str | None] = mapped_column(String(32), nullable=True)

    # Who wrote on the patient's behalf: nested everywhere else, flat only here.
    @property
    def representative(self) -> RepresentativeRef | None:
        return Message.representative_of(self.representative_id, self.representative_relation)

    @staticmethod
    def representative_of(
        representative_id: str | None, relation: str | None
    ) -> RepresentativeRef | None:
        # The representative's birth date is checked when the message is taken, not kept.
        if representative_id is None or relation is None:
            return None
        return RepresentativeRef(id=representative_id, relation=RepresentativeRelation(relation))

    @staticmethod
    def representative_columns(representative: RepresentativeRef | None) -> dict[str, str | None]:
        return {
            "representative_id": representative.id if representative else None,
            "representative_relation": representative.relation.value if representative else None,
        }

    __table_args__ = (Index("ix_messages_thread", "consultation_id", "created_at"),)


class JournalEntry(Base):
    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    entry_key: Mapped[str] = mapped_column(String(128), unique=True)
    consultation_id: Mapped[str] = mapped_column(ID, index=True)
    patient_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))
    author_role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str] = mapped_column(ID)
    text: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    occurred_at: Mapped[datetime]
    written_at: Mapped[datetime]
    # Who wrote on the patient's behalf (null when nobody did), the practice and the clinician
    # the consultation was addressed to when the entry was made: the record system's author and
    # recipient. Null on entries journaled before 0008_practices.
    representative_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    representative_relation: Mapped[str | None] = mapped_column(String(32), nullable=True)
    practice_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    recipient_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    # The external record system's answer (FHIR: 201 created, 200 already there, or a final
    # 4xx) and its resource id; null while the entry is only here.
    external_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    external_at: Mapped[datetime | None]
    # How often an operator had a refused entry sent again (0012_redeliveries); left to the
    # server's default, so writers that predate it insert rows as they did.
    redeliveries: Mapped[int] = mapped_column(Integer, server_default="0")

    # Who wrote on the patient's behalf: nested everywhere else, flat only here (as on messages).
    @property
    def representative(self) -> RepresentativeRef | None:
        return Message.representative_of(self.representative_id, self.representative_relation)

    @staticmethod
    def representative_columns(representative: RepresentativeRef | None) -> dict[str, str | None]:
        return Message.representative_columns(representative)


class Notification(Base):
    """The outbox: one row per notification event, sent by the sender adapter."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    notification_key: Mapped[str] = mapped_column(String(128), unique=True)
    consultation_id: Mapped[str] = mapped_column(ID, index=True)
    audience: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    event: Mapped[str] = mapped_column(String(32))
    reply_due_at: Mapped[datetime | None]
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    # What two events carry besides ids (0017_notification_details): the settled co-payment
    # and the refused journal entry (key and status, never content), so a redelivery sends
    # the same body.
    copayment: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    journal_entry: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    # When the sender delivered it (a webhook receiver's 2xx, or the log line).
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A receiver's final refusal (a 4xx other than 408/429): not retried.
    failed_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # When it was refused for good, or (failed_status empty) given up on after a week of
    # retries without one: either way nothing retries it until an operator redelivers it.
    failed_at: Mapped[datetime | None]
    # How often an operator had a refused notification sent again (0012_redeliveries); left
    # to the server's default, so writers that predate it insert rows as they did.
    redeliveries: Mapped[int] = mapped_column(Integer, server_default="0")


class FigureCount(Base):
    """The /metrics figures as a ledger of deltas, written by triggers (0006_figure_counts):
    a figure ("status:<status>", "overdue", "deadline_breaches", "notifications_undelivered")
    is the sum of its rows. Writes go through the tables the triggers watch, never here."""

    __tablename__ = "figure_counts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    figure: Mapped[str] = mapped_column(String(64))
    n: Mapped[int] = mapped_column(BigInteger)


class Charge(Base):
    """One row per settled consultation: the primary key is the idempotency key."""

    __tablename__ = "charges"

    consultation_id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(32))
    tariff: Mapped[str | None] = mapped_column(String(16))
    amount_nok: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # Why an `exempt` charge is free (an ExemptionCode), and with `other` what it is.
    exemption: Mapped[str | None] = mapped_column(String(32))
    exemption_note: Mapped[str | None] = mapped_column(String(200))
    # Why the patient's claimed code was set aside (overruled, replaced, or not fitting).
    claim_set_aside: Mapped[str | None] = mapped_column(String(300))
    replied_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    # The clinician who replied, who is billed (after a reassignment: the new recipient), and
    # whether their specialist rate applied (null: settled before 0002_copayment).
    billed_clinician_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    specialist_rate: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class Frikort(Base):
    """Default frikort register: periods recorded by admins; a retried PUT rewrites its row."""

    __tablename__ = "frikort"

    patient_id: Mapped[str] = mapped_column(ID, primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    valid_to: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime]
