"""The consultation's vocabulary: statuses, refusals, the workflow's input, commands, state
and answer. One pydantic model in and one out at every boundary; pure data, no I/O: the
workflow sandbox, the activities, the API and the tests share it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, PlainSerializer, StringConstraints

from domain.base import MAX_ATTACHMENTS_PER_MESSAGE, Identifier, MessageBody, Model
from domain.parties import (
    ClinicianExemption,
    ExemptionCode,
    ExemptionNote,
    Patient,
    Representative,
)


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
    EXEMPTION_NOT_ALLOWED = "ExemptionNotAllowed"


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
    # The clinician's word on the exemption, with a billable message: a code they recognise,
    # or "none" to overrule the patient's claimed code.
    exemption: ClinicianExemption | None = None
    exemption_note: ExemptionNote | None = None


class CloseCommand(Model):
    """`close`: the clinician ends the case, with or without a final message."""

    message_id: Identifier | None = None
    clinician_id: Identifier
    message: MessageContent | None = None
    billable: bool = True
    # The clinician's word on the exemption, with the closing message (as with a reply).
    exemption: ClinicianExemption | None = None
    exemption_note: ExemptionNote | None = None
    # `declined`: not suited to an e-consultation; nothing is billed. None: a plain close.
    reason: CloseReason | None = None


class WithdrawCommand(Model):
    """`withdraw`: the patient takes the question back before any clinician reply."""

    patient_id: Identifier
    # Who withdrew on the patient's behalf; absent in commands recorded before it existed.
    representative: Representative | None = None


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


# NOK with two decimals, as a JSON number where the service answers or sends one (the store
# keeps the exact Decimal).
AmountNok = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class CopaymentOutcome(Copayment):
    """What settling the co-payment decided, and when (the reply's instant)."""

    settled_at: datetime | None = None
    # Set when the status is `exempt`: why (and with `other`, what the exemption is).
    exemption: ExemptionCode | None = None
    exemption_note: str | None = None
    # Why the patient's claimed code was set aside: overruled or replaced by the clinician, or
    # a code the patient's age does not fit on the day of the message.
    claim_set_aside: str | None = None


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
    # The clinician judges the patient's claimed exemption (docs/copayment.md): set when the
    # case starts on a flow that does, and kept across continue-as-new.
    exemptions_judged: bool = False

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
    """Answer of the `state` query and of every update (kept in histories: only add fields).
    It carries no message content: the API reads the thread with its access-log entry."""

    consultation_id: str
    can_patient_reply: bool
    copayment: CopaymentOutcome
    message_count: int
    revision: int
    # Fixed for the case's life; empty only in answers recorded before they were added.
    patient_id: str = ""
    practice_id: str = ""


class ConsultationRecord(ConsultationFacts):
    """The case store's row for a consultation, written on every state change."""

    consultation_id: str
    patient_id: str
    practice_id: str
    revision: int


ConsultationStart.model_rebuild()
