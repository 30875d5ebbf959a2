"""The events the service sends to webhooks, as a receiver gets them: one envelope per event
type (Standard Webhooks: `type`, `timestamp`, `data`), the data it carries and who receives it.

The sender serialises these models and the OpenAPI document's `webhooks` section is generated
from them, so the document describes what is sent. Pure data, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar, Literal, get_args

from pydantic import Field

from domain.base import Model
from domain.effects import Audience, NotificationEvent, NotificationInput, RefusedEntry
from domain.models import AmountNok, Copayment, CopaymentStatus

# --- what the events carry --------------------------------------------------------------------


class CaseEventData(Model):
    """Ids, the event and the deadline: never health content, never the patient's id."""

    consultation_id: str
    audience: Audience
    recipient_id: str | None = Field(
        description=(
            "The clinician (clinician events) or the practice (practice events) addressed; "
            "null for patient events: the portal knows its patient by the consultation."
        )
    )
    event: NotificationEvent
    reply_due_at: datetime | None = Field(
        description=(
            "The reply deadline when the event happened (RFC 3339); null when none runs, and "
            "on journal_entry_refused."
        )
    )
    occurred_at: datetime


class SettledCopayment(Copayment):
    """The co-payment as the consultation's `copayment` shows it once settled."""

    amount_nok: AmountNok | None = None


class CopaymentSettledData(CaseEventData):
    copayment: SettledCopayment


class JournalEntryRefusedData(CaseEventData):
    journal_entry: RefusedEntry


class SandboxEventData(Model):
    """What a sandbox test event carries: whom it was sent to, and when."""

    audience: Audience
    practice_id: str | None
    occurred_at: datetime


# --- the envelopes, one per event type ------------------------------------------------------


class Envelope(Model):
    """The Standard Webhooks envelope. `webhook-id` (the notification key, the same on every
    retry: dedupe on it), `webhook-timestamp` and `webhook-signature` come as headers."""

    type: str
    timestamp: datetime = Field(description="When the event happened (RFC 3339).")
    data: CaseEventData
    # Who receives the event: patient events go to the portal's webhook, clinician and
    # practice events to the practice's own webhook, else the service-wide practice one.
    audiences: ClassVar[tuple[Audience, ...]]

    @classmethod
    def event_type(cls) -> str:
        value: str = get_args(cls.model_fields["type"].annotation)[0]
        return value


class NewMessageEvent(Envelope):
    """The patient wrote.

    A first message or a follow-up awaits the clinician; `reply_due_at` is its deadline."""

    type: Literal["econsult.new_message"]
    audiences = (Audience.CLINICIAN,)


class ReplyAvailableEvent(Envelope):
    """The clinician answered.

    There is news for the patient on the portal; the body says no more."""

    type: Literal["econsult.reply_available"]
    audiences = (Audience.PATIENT,)


class ReminderEvent(Envelope):
    """The reply is due today.

    Sent at 08:00 Oslo time on the day the reply is due, while the patient still waits."""

    type: Literal["econsult.reminder"]
    audiences = (Audience.CLINICIAN,)


class OverdueEvent(Envelope):
    """The reply deadline passed without an answer."""

    type: Literal["econsult.overdue"]
    audiences = (Audience.PRACTICE,)


class AnswerLateEvent(Envelope):
    """The answer is late.

    Sent at 08:00 Oslo time the morning after a missed deadline, if still unanswered."""

    type: Literal["econsult.answer_late"]
    audiences = (Audience.PATIENT,)


class WithdrawnEvent(Envelope):
    """The patient withdrew the consultation.

    The patient, or a representative on their behalf."""

    type: Literal["econsult.withdrawn"]
    audiences = (Audience.CLINICIAN,)


class ClosedEvent(Envelope):
    """The consultation closed.

    Closed by the clinician (answered or declined), or after 30 days of the patient's silence."""

    type: Literal["econsult.closed"]
    audiences = (Audience.PATIENT,)


class ReassignedEvent(Envelope):
    """The consultation was reassigned to this clinician.

    The practice handed it over; the deadline is kept."""

    type: Literal["econsult.reassigned"]
    audiences = (Audience.CLINICIAN,)


class CopaymentSettledEvent(Envelope):
    """The co-payment settled.

    Once per consultation, on the first billable clinician message: its status, tariff and
    amount as the consultation's `copayment` shows them from now on (no longer `pending`).
    The consultation id only, never the patient's; no health content."""

    type: Literal["econsult.copayment_settled"]
    data: CopaymentSettledData
    audiences = (Audience.PATIENT,)


class JournalEntryRefusedEvent(Envelope):
    """The record system refused a journal entry.

    The practice's record system refused the entry for good (a final 4xx): its key and the
    status answered, never its content. Once the record system is fixed, an operator can
    have it sent again (`POST /v1/journal-entries/{key}/redeliver`)."""

    type: Literal["econsult.journal_entry_refused"]
    data: JournalEntryRefusedData
    audiences = (Audience.PRACTICE,)


class SandboxTestEvent(Envelope):
    """A test event.

    Sent by `POST /v1/sandbox/test-events`, in the sandbox only, to check a receiver."""

    type: Literal["econsult.test"]
    data: SandboxEventData  # type: ignore[assignment]
    audiences = (Audience.PATIENT, Audience.CLINICIAN, Audience.PRACTICE)


ENVELOPES: dict[str, type[Envelope]] = {
    envelope.event_type(): envelope
    for envelope in (
        NewMessageEvent,
        ReplyAvailableEvent,
        ReminderEvent,
        OverdueEvent,
        AnswerLateEvent,
        WithdrawnEvent,
        ClosedEvent,
        ReassignedEvent,
        CopaymentSettledEvent,
        JournalEntryRefusedEvent,
        SandboxTestEvent,
    )
}


def event_type(event: NotificationEvent) -> str:
    return f"econsult.{event.value}"


def envelope_of(notification: NotificationInput) -> Envelope:
    """The event as its receiver gets it. The practice only routes it and the key travels as
    `webhook-id`: the data models leave both out."""
    envelope = ENVELOPES[event_type(notification.event)]
    return envelope.model_validate(
        {
            "type": envelope.event_type(),
            "timestamp": notification.occurred_at,
            "data": notification.model_dump(),
        }
    )


def sandbox_test(audience: Audience, practice_id: str | None, at: datetime) -> SandboxTestEvent:
    data = SandboxEventData(audience=audience, practice_id=practice_id, occurred_at=at)
    return SandboxTestEvent(type="econsult.test", timestamp=at, data=data)


# --- examples for the document, made by the code that sends ---------------------------------

_EXAMPLE_AT = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
_EXAMPLE_DUE = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
_EXAMPLE_RECIPIENTS = {Audience.CLINICIAN: "9100001", Audience.PRACTICE: "legesenteret"}


def example(envelope: type[Envelope]) -> Envelope:
    """An event of this type as the sender makes it."""
    audience = envelope.audiences[0]
    if envelope is SandboxTestEvent:
        return sandbox_test(Audience.PRACTICE, "legesenteret", _EXAMPLE_AT)
    event = NotificationEvent(envelope.event_type().removeprefix("econsult."))
    settled = envelope is CopaymentSettledEvent
    notification = NotificationInput(
        notification_key="example",
        consultation_id="3f2c9a1e-5b7d-4c1a-9e8f-2d6b0a4c7e51",
        audience=audience,
        recipient_id=_EXAMPLE_RECIPIENTS.get(audience),
        event=event,
        reply_due_at=None if settled else _EXAMPLE_DUE,
        occurred_at=_EXAMPLE_AT,
        copayment=Copayment(
            status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("167.00")
        ),
        journal_entry=RefusedEntry(
            entry_key="message:8d0b6f4e-1c2a-4f3b-9a7e-5e4d3c2b1a09", http_status=422
        ),
    )
    return envelope_of(notification)
