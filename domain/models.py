"""The consultation's vocabulary: one pydantic model in and one out at every boundary.

Pure data, no I/O: the workflow sandbox, the activities, the API and the tests share it.
Every model ignores unknown fields on the way in, so a newer field in an old history
(or an older worker reading a newer payload) never breaks a running consultation.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_BODY_CHARS = 5000
MAX_ATTACHMENTS_PER_MESSAGE = 5

# For JSON schemas (the API's OpenAPI document): a string that is not all whitespace, as
# pydantic's strip_whitespace counts it (Unicode White_Space). Documentation only: the
# constraints below are what validates.
NOT_BLANK = r"[^\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_BLANK_SCHEMA = Field(json_schema_extra={"pattern": NOT_BLANK})

MessageBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS),
    _NOT_BLANK_SCHEMA,
]
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _NOT_BLANK_SCHEMA
]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class Status(StrEnum):
    DRAFT = "draft"
    AWAITING_CLINICIAN = "awaiting_clinician"
    AWAITING_PATIENT = "awaiting_patient"
    CLOSED = "closed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in (Status.CLOSED, Status.EXPIRED, Status.WITHDRAWN)

    @property
    def lets_patient_reply(self) -> bool:
        """Only a clinician's answer opens the thread to the patient (never after close)."""
        return self == Status.AWAITING_PATIENT


OPEN_AFTER_SUBMIT = frozenset({Status.AWAITING_CLINICIAN, Status.AWAITING_PATIENT})

WORKFLOW_ID_PREFIX = "econsultation-"


def consultation_workflow_id(consultation_id: str) -> str:
    """The business-key workflow id: one workflow per consultation, found by its id."""
    return f"{WORKFLOW_ID_PREFIX}{consultation_id}"


class Role(StrEnum):
    """Who wrote a message or journal entry (not whom an API caller acts as: its scope's role)."""

    PATIENT = "patient"
    CLINICIAN = "clinician"
    SYSTEM = "system"


class CloseReason(StrEnum):
    CLINICIAN = "clinician"
    INACTIVE = "inactive"
    # The clinician found the matter not suited to an e-consultation; never billed.
    DECLINED = "declined"


class CopaymentStatus(StrEnum):
    PENDING = "pending"
    CHARGED = "charged"
    EXEMPT = "exempt"
    NO_CHARGE = "no_charge"
    NOT_APPLICABLE = "not_applicable"


class Refusal(StrEnum):
    """`ApplicationError.type` of every business refusal; the API maps them to HTTP answers."""

    INVALID_TRANSITION = "InvalidTransition"
    COPAYMENT_NOT_ACCEPTED = "CopaymentNotAccepted"
    CLINICIAN_UNAVAILABLE = "ClinicianUnavailable"
    RECIPIENT_NOT_ALLOWED = "RecipientNotAllowed"
    NOT_A_PARTY = "NotAParty"
    NO_RELATION = "NoRelation"
    REPRESENTATIVE_NOT_ALLOWED = "RepresentativeNotAllowed"
    UNKNOWN_ATTACHMENT = "UnknownAttachment"


# --- co-payment exemptions -----------------------------------------------------------------


class ExemptionCode(StrEnum):
    """Why a patient pays no co-payment, recorded on the charge (docs/copayment.md)."""

    UNDER_AGE = "under_age"
    FRIKORT = "frikort"
    PSYCHOTHERAPY_UNDER_18 = "psychotherapy_under_18"
    OCCUPATIONAL_INJURY = "occupational_injury"
    MILITARY_SERVICE = "military_service"
    PREGNANCY_CHECKUP = "pregnancy_checkup"
    NOTIFIABLE_INFECTIOUS_DISEASE = "notifiable_infectious_disease"
    VIOLENCE_OR_ABUSE = "violence_or_abuse"
    OTHER = "other"


EXEMPTION_CODES = frozenset(code.value for code in ExemptionCode)
MAX_EXEMPTION_NOTE_CHARS = 200

ExemptionNote = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_EXEMPTION_NOTE_CHARS),
    _NOT_BLANK_SCHEMA,
]


def exemption_note_refusal(code: ExemptionCode | None, note: str | None) -> str | None:
    """Why a code and a note do not go together, or None: `other` needs a note saying what
    the exemption is, and only `other` takes one (a note beside another code would be lost).

    The API refuses such a pair (422); the domain models accept what they are given, so that
    no payload already recorded in a history fails to decode.
    """
    if code == ExemptionCode.OTHER and note is None:
        return "exemption 'other' needs an exemption_note saying what the exemption is"
    if note is not None and code != ExemptionCode.OTHER:
        return "exemption_note is only taken with exemption 'other'"
    return None


# --- parties ---------------------------------------------------------------------------


class Patient(Model):
    id: Identifier
    birth_date: date
    frikort: bool = False
    exemption: ExemptionCode | None = None
    # What the exemption is, with `other` only.
    exemption_note: ExemptionNote | None = None

    @model_validator(mode="before")
    @classmethod
    def _free_text_exemption(cls, data: object) -> object:
        """Before exemptions were codes, the portal sent free text: it reads as `other` with
        the text as its note (a blank text as no exemption), so older histories replay."""
        if not isinstance(data, dict):
            return data
        given = data.get("exemption")
        if not isinstance(given, str) or given in EXEMPTION_CODES:
            return data
        text = given.strip()
        if not text:
            return {**data, "exemption": None}
        if text in EXEMPTION_CODES:
            return {**data, "exemption": text}
        return {
            **data,
            "exemption": ExemptionCode.OTHER.value,
            "exemption_note": data.get("exemption_note") or text[:MAX_EXEMPTION_NOTE_CHARS],
        }


class RepresentativeRelation(StrEnum):
    PARENT = "parent"
    GUARDIAN = "guardian"
    POWER_OF_ATTORNEY = "power_of_attorney"


class RepresentativeRef(Model):
    """Who wrote on the patient's behalf, as a stored message names them (no birth date)."""

    id: Identifier
    relation: RepresentativeRelation


class Representative(RepresentativeRef):
    """Someone who writes for the patient (a parent, a guardian, a power of attorney)."""

    # Required for a power of attorney (its holder must be 18 or older); the rules are in
    # domain/representatives.py.
    birth_date: date | None = None


class AttachmentRef(Model):
    """Claim check: the content lives in the case store, only the id and digest travel."""

    id: Identifier
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class MessageContent(Model):
    body: MessageBody
    attachments: Annotated[list[AttachmentRef], Field(max_length=MAX_ATTACHMENTS_PER_MESSAGE)] = []


# --- workflow input, signals, updates, query ---------------------------------------------


class ConsultationStart(Model):
    consultation_id: Identifier
    patient: Patient
    clinician_id: Identifier
    recipient_id: Identifier
    copayment_accepted: bool
    message: MessageContent | None = None
    message_id: Identifier | None = None
    representative: Representative | None = None
    # Set by the workflow itself when it continues as new; callers leave it empty.
    carried_state: ConsultationState | None = None
    # Messages per run before the workflow continues as new (bounded history on long threads).
    messages_per_run: int = Field(default=50, ge=1)


class SubmitCommand(Model):
    """`submit`: the patient sends the drafted consultation."""

    message_id: Identifier | None = None
    message: MessageContent
    representative: Representative | None = None


class ReplyCommand(Model):
    """`reply`: a message from the clinician, or a follow-up from the patient."""

    message_id: Identifier | None = None
    author_role: Role
    author_id: Identifier
    message: MessageContent
    billable: bool = True
    close: bool = False
    # A patient's follow-up written by someone on the patient's behalf.
    representative: Representative | None = None
    # An exemption the clinician recognises, declared with a billable message.
    exemption: ExemptionCode | None = None
    exemption_note: ExemptionNote | None = None


class CloseCommand(Model):
    """`close`: the clinician ends the case, with or without a final message."""

    message_id: Identifier | None = None
    clinician_id: Identifier
    message: MessageContent | None = None
    billable: bool = True
    # An exemption the clinician recognises, declared with the closing message.
    exemption: ExemptionCode | None = None
    exemption_note: ExemptionNote | None = None
    # `declined`: not suited to an e-consultation; nothing is billed. None: a plain close.
    reason: CloseReason | None = None


class WithdrawCommand(Model):
    """`withdraw`: the patient takes the question back before any clinician reply."""

    patient_id: Identifier


class ReassignCommand(Model):
    """`reassign`: the practice hands the open case to another clinician; the deadline is kept."""

    recipient_id: Identifier
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    # Who reassigns (a practice administrator's or an admin's subject): journaled.
    by: Identifier


class Copayment(Model):
    """The co-payment as every layer shows it; the case store keeps it in flat columns."""

    status: CopaymentStatus = CopaymentStatus.PENDING
    tariff: str | None = None
    amount_nok: Decimal | None = None


class CopaymentOutcome(Copayment):
    """What settling the co-payment decided, and when (the reply's instant)."""

    settled_at: datetime | None = None
    # Set when the status is `exempt`: why (and with `other`, what the exemption is).
    exemption: ExemptionCode | None = None
    exemption_note: str | None = None


class ConsultationFacts(Model):
    """What every reader of a consultation sees, whoever holds it: the workflow's state and
    view, the case store's record and read model, the API's answer. Each layer keys it its own
    way (`consultation_id` in workflow payloads, `id` in the case store and the API)."""

    status: Status
    clinician_id: str
    recipient_id: str
    created_at: datetime
    submitted_at: datetime | None = None
    reply_due_at: datetime | None = None
    overdue: bool = False
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    copayment: Copayment = Copayment()


class ConsultationState(ConsultationFacts):
    """Everything the workflow knows, in one object (carried across continue-as-new)."""

    consultation_id: str
    patient: Patient
    practice_id: str
    reply_within_working_days: int
    closed_days: list[date] = []
    status: Status = Status.DRAFT
    reminder_at: datetime | None = None
    reminded: bool = False
    # The patient was told, at 08:00 the morning after the deadline, that the answer is late.
    told_late: bool = False
    awaiting_patient_since: datetime | None = None
    clinician_has_replied: bool = False
    # A billable clinician message was taken: it settles the co-payment, and no later one does.
    billable_message_taken: bool = False
    copayment: CopaymentOutcome = CopaymentOutcome()
    message_count: int = 0
    # Every state change bumps it: the case store ignores a stale (retried, older) write.
    revision: int = 0
    # Message ids already taken, so a signal delivered twice never stores a message twice.
    seen_message_ids: list[str] = []

    @property
    def patient_id(self) -> str:
        return self.patient.id

    @property
    def can_patient_reply(self) -> bool:
        return self.status.lets_patient_reply

    def view(self) -> ConsultationView:
        """The answer of the `state` query and of every update, read off the state."""
        return ConsultationView.model_validate(self, from_attributes=True)

    def record(self) -> ConsultationRecord:
        """The case store's row, read off the state."""
        return ConsultationRecord.model_validate(self, from_attributes=True)


class ConsultationView(ConsultationFacts):
    """Answer of the `state` query and of every update (kept in histories: only add fields)."""

    consultation_id: str
    can_patient_reply: bool
    copayment: CopaymentOutcome
    message_count: int
    revision: int
    # Fixed for the case's life; empty only in answers recorded before they were added.
    patient_id: str = ""
    practice_id: str = ""


# --- activities ----------------------------------------------------------------------------


class DirectoryCheck(Model):
    clinician_id: str
    recipient_id: str
    on_day: date
    # None only in histories recorded before relations existed.
    patient_id: str | None = None


class ReassignmentCheck(Model):
    recipient_id: str
    practice_id: str
    on_day: date


class DirectoryAnswer(Model):
    recipient_id: str
    practice_id: str
    reply_within_working_days: int
    closed_days: list[date] = []


class ConsultationRecord(ConsultationFacts):
    """The case store's row for a consultation, written on every state change."""

    consultation_id: str
    patient_id: str
    practice_id: str
    revision: int


class RecordResult(Model):
    applied: bool


class MessageToStore(Model):
    message_id: str
    consultation_id: str
    author_role: Role
    author_id: str
    content: MessageContent
    created_at: datetime
    representative: Representative | None = None


class StoredMessage(Model):
    message_id: str
    created_at: datetime


class JournalEntryKind(StrEnum):
    MESSAGE = "message"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    AUTO_CLOSE = "auto_close"
    REASSIGN = "reassign"


class JournalEntryInput(Model):
    entry_key: str
    consultation_id: str
    patient_id: str
    kind: JournalEntryKind
    author_role: Role
    author_id: str
    text: str
    attachment_ids: list[str] = []
    occurred_at: datetime
    # Who really wrote, for the record system: the representative who wrote on the patient's
    # behalf (then `author_id` is theirs), the practice (the author of a reassignment), and the
    # clinician the consultation was addressed to when the entry was made. Absent on entries
    # made before they were recorded.
    representative: RepresentativeRef | None = None
    practice_id: str | None = None
    recipient_id: str | None = None


class JournalEntryResult(Model):
    entry_key: str
    record_reference: str
    # The worker sends journal entries on to an external record system (FHIR).
    forward: bool = False


class CaseEvent(Model):
    """One event's writes in one activity: the case row, and the message and journal entries
    the event brings (the message after the row it belongs to, the entries last)."""

    record: ConsultationRecord
    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = []
    # The author of the event's billable message: whether they are a specialist in general
    # practice is read as the message is taken, so a later directory change never moves the
    # charge.
    billed_clinician_id: str | None = None


class CaseEventResult(Model):
    applied: bool
    # The worker sends journal entries on to an external record system (FHIR).
    forward: bool = False
    # For `billed_clinician_id`: the directory's answer when the message was taken.
    specialist_in_general_practice: bool = False


class JournalForward(Model):
    """An entry already in the journal table, to be sent on to the record system."""

    entry_key: str


class JournalForwardResult(Model):
    entry_key: str
    http_status: int
    resource_id: str


class Audience(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    PRACTICE = "practice"


class NotificationEvent(StrEnum):
    NEW_MESSAGE = "new_message"
    REPLY_AVAILABLE = "reply_available"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ANSWER_LATE = "answer_late"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"
    REASSIGNED = "reassigned"


class NotificationInput(Model):
    """Ids, event and deadline only: a notification never carries health content."""

    notification_key: str
    consultation_id: str
    audience: Audience
    recipient_id: str | None = None
    event: NotificationEvent
    reply_due_at: datetime | None = None
    occurred_at: datetime


class NotificationResult(Model):
    notification_key: str
    delivered: bool


class SettleCopayment(Model):
    """Settle the co-payment on the first billable clinician message.

    Everything the decision needs travels here, decided by the workflow when it took the
    message: settlement reads neither the directory nor the patient's start flags.
    """

    consultation_id: str
    patient: Patient
    replied_at: datetime
    # The message's author, billed at their rate: a specialist in general practice when
    # the message was taken. Absent in settlements recorded before it existed.
    clinician_id: str | None = None
    specialist_in_general_practice: bool = False
    # The effective frikort answer for the Oslo day of the message: the portal's start
    # flag when the message falls in the start's Oslo calendar year, else the register's.
    frikort_on_reply_day: bool = False
    # Declared by the clinician with the message.
    exemption: ExemptionCode | None = None
    exemption_note: str | None = None
    # Only workflows recorded before settlement was asked for billable messages alone pass
    # false (a clarifying question): it is answered `no_charge`, as then.
    billable: bool = True


class FrikortQuestion(Model):
    patient_id: str
    on_day: date


class FrikortAnswer(Model):
    holds_frikort: bool


ConsultationStart.model_rebuild()
