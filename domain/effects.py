"""What activities take and answer: directory checks, case-store writes, journal entries,
notifications and the co-payment settlement. Pure data, no I/O."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from domain.base import Model
from domain.models import ConsultationRecord, Copayment, MessageContent, Role
from domain.parties import ClinicianExemption, Patient, Representative, RepresentativeRef

# --- activities ----------------------------------------------------------------------------


class DirectoryCheck(Model):
    clinician_id: str
    recipient_id: str
    on_day: date
    patient_id: str


class ReassignmentCheck(Model):
    recipient_id: str
    practice_id: str
    on_day: date


class DirectoryAnswer(Model):
    recipient_id: str
    practice_id: str
    reply_within_working_days: int
    closed_days: list[date] = []


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
    # clinician the consultation was addressed to when the entry was made (None: not known for
    # the entry, as on entries of the first consultations).
    representative: RepresentativeRef | None = None
    practice_id: str | None = None
    recipient_id: str | None = None


class CaseEvent(Model):
    """One event's writes as the 1.0 flow hands them to `record_event` (the current flow
    commits a domain.events.Event)."""

    record: ConsultationRecord
    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = []
    # The author of the event's billable message: whether they are a specialist in general
    # practice is read as the message is taken, so a later directory change never moves the
    # charge.
    billed_clinician_id: str | None = None
    # The event's notifications, queued in the same transaction (a transactional outbox).
    notifications: list[NotificationInput] = []


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
    COPAYMENT_SETTLED = "copayment_settled"
    JOURNAL_ENTRY_REFUSED = "journal_entry_refused"


# A detail of a refusal the service's outbound policy made (the endpoint was never contacted),
# beside the status it is kept as: no receiver refused anything.
REFUSED_BY_OUTBOUND_POLICY = "outbound-policy"


class RefusedEntry(Model):
    """A journal entry its record system refused for good: its key and the status answered,
    never its content."""

    entry_key: str
    http_status: int


class NotificationInput(Model):
    """Ids, event and deadline only: a notification never carries health content."""

    notification_key: str
    consultation_id: str
    audience: Audience
    recipient_id: str | None = None
    event: NotificationEvent
    reply_due_at: datetime | None = None
    occurred_at: datetime
    # The practice of the recipient when the event happened: clinician and practice events go
    # to its own webhook when it has one, else (None) to the service-wide endpoint; never in the
    # webhook's body.
    practice_id: str | None = None
    # What two events carry besides ids: the settled co-payment (`copayment_settled`) and the
    # refused entry (`journal_entry_refused`). Kept on the outbox row, so a redelivery sends
    # the same body.
    copayment: Copayment | None = None
    journal_entry: RefusedEntry | None = None
    # True when the event's own transaction wrote the outbox row: the first attempt goes
    # straight to the sender. Never stored, never in the webhook's body.
    queued: bool = False


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
    # the message was taken.
    clinician_id: str
    specialist_in_general_practice: bool = False
    # The effective frikort answer for the Oslo day of the message: the portal's start
    # flag when the message falls in the start's Oslo calendar year, else the register's.
    frikort_on_reply_day: bool = False
    # The clinician's word with the message: a code, or "none" overruling the patient's claim.
    exemption: ClinicianExemption | None = None
    exemption_note: str | None = None
    # The patient's claimed code is judged (docs/copayment.md): false in the flows a case
    # started on before exemptions were judged, whose settlements keep the rules they had.
    judge_claim: bool = False


class FrikortQuestion(Model):
    patient_id: str
    on_day: date


class FrikortAnswer(Model):
    holds_frikort: bool


# --- redelivery (an operator's request, after a receiver that refused is fixed) -------------


class RedeliveryKind(StrEnum):
    NOTIFICATION = "notification"
    JOURNAL_ENTRY = "journal-entry"


class Redeliver(Model):
    """Send one refused notification or journal entry again: the `redelivery`-th time an
    operator asked for it, so each request is one workflow and one send."""

    kind: RedeliveryKind
    key: str
    redelivery: int


class RedeliveryResult(Model):
    key: str
    # False when the item was not refused (any more) as the redelivery began: nothing sent.
    reopened: bool
    delivered: bool


def redelivery_workflow_id(kind: RedeliveryKind, key: str, redelivery: int) -> str:
    """One workflow per request: a repeated request finds the one already started."""
    return f"redelivery-{kind.value}-{key}-{redelivery}"
