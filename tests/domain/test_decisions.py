"""The consultation's decisions as a table of cases, without Temporal: each command or timer on
a state gives the new state and one event, a refusal, or nothing (docs/lifecycle.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain import checks, decisions, entries
from domain.checks import Refused
from domain.copayment_case import CopaymentCase
from domain.decisions import Decided, Decision, TimerKind
from domain.effects import Audience, DirectoryAnswer, JournalEntryKind, NotificationEvent
from domain.events import Bill
from domain.models import (
    CloseCommand,
    CloseReason,
    ConsultationStart,
    ConsultationState,
    Copayment,
    CopaymentOutcome,
    CopaymentStatus,
    MessageContent,
    ReassignCommand,
    Refusal,
    ReplyCommand,
    Role,
    Status,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import ExemptionCode, Patient, Representative
from domain.working_days import OSLO

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=OSLO)
PATIENT = Patient(id="p-1", birth_date=date(1980, 5, 17))
CLINICIAN, OTHER = "hpr-1", "hpr-2"
DIRECTORY = DirectoryAnswer(
    recipient_id=CLINICIAN, practice_id="practice-1", reply_within_working_days=5
)


def start(message: str | None = "A rash.", **fields: Any) -> ConsultationStart:
    fields = {"copayment_accepted": True, **fields}
    return ConsultationStart(
        consultation_id="c-1",
        patient=PATIENT,
        clinician_id=CLINICIAN,
        recipient_id=CLINICIAN,
        message=MessageContent(body=message) if message else None,
        **fields,
    )


def opened(message: str | None = "A rash.") -> ConsultationState:
    new = decisions.new_case(start(message), NOW - timedelta(hours=1))
    return decisions.open_case(
        new, start(message), DIRECTORY, NOW - timedelta(hours=1), "m-0"
    ).state


def answered(billable: bool = True) -> ConsultationState:
    return _decided(decisions.reply(opened(), clinician(billable=billable), NOW, "m-1")).state


def clinician(**fields: Any) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN,
        author_id=CLINICIAN,
        message=MessageContent(body="Cream."),
        **fields,
    )


def patient(**fields: Any) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.PATIENT,
        author_id=PATIENT.id,
        message=MessageContent(body="Thanks."),
        **fields,
    )


def _decided(decision: Decision) -> Decided:
    assert isinstance(decision, Decided), decision
    return decision


@dataclass(frozen=True)
class Case:
    state: Callable[[], ConsultationState]
    decide: Callable[[ConsultationState], Decision]
    status: Status | None = None
    told: tuple[Audience, NotificationEvent] | None = None
    journal: tuple[JournalEntryKind, ...] = ()
    message: bool = False
    billed: bool = False
    copayment: CopaymentStatus = CopaymentStatus.PENDING
    refusal: Refusal | None = None
    nothing: bool = False


CASES = {
    "start with a message: awaiting the clinician, who is told": Case(
        lambda: decisions.new_case(start(), NOW),
        lambda s: decisions.open_case(s, start(), DIRECTORY, NOW, "m-0"),
        Status.AWAITING_CLINICIAN,
        (Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE),
        (JournalEntryKind.MESSAGE,),
        message=True,
    ),
    "start without one: a draft, nothing told": Case(
        lambda: decisions.new_case(start(None), NOW),
        lambda s: decisions.open_case(s, start(None), DIRECTORY, NOW, "m-0"),
        Status.DRAFT,
    ),
    "submit a draft": Case(
        lambda: opened(None),
        lambda s: decisions.submit(s, SubmitCommand(message=MessageContent(body="Q")), NOW, "m-1"),
        Status.AWAITING_CLINICIAN,
        (Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE),
        (JournalEntryKind.MESSAGE,),
        message=True,
    ),
    "submit twice: refused": Case(
        opened,
        lambda s: decisions.submit(s, SubmitCommand(message=MessageContent(body="Q")), NOW, "m-1"),
        refusal=Refusal.INVALID_TRANSITION,
    ),
    "a message already taken: nothing": Case(
        opened,
        lambda s: decisions.submit(
            s, SubmitCommand(message_id="m-0", message=MessageContent(body="Q")), NOW, "m-0"
        ),
        nothing=True,
    ),
    "the first billable reply is billed": Case(
        opened,
        lambda s: decisions.reply(s, clinician(), NOW, "m-1"),
        Status.AWAITING_PATIENT,
        (Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE),
        (JournalEntryKind.MESSAGE,),
        message=True,
        billed=True,
    ),
    "a clarifying question is not": Case(
        opened,
        lambda s: decisions.reply(s, clinician(billable=False), NOW, "m-1"),
        Status.AWAITING_PATIENT,
        (Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE),
        (JournalEntryKind.MESSAGE,),
        message=True,
    ),
    "a second billable reply is not billed again": Case(
        lambda: _decided(decisions.reply(answered(), patient(), NOW, "m-2")).state,
        lambda s: decisions.reply(s, clinician(), NOW, "m-3"),
        Status.AWAITING_PATIENT,
        (Audience.PATIENT, NotificationEvent.REPLY_AVAILABLE),
        (JournalEntryKind.MESSAGE,),
        message=True,
    ),
    "another clinician: not a party": Case(
        opened,
        lambda s: decisions.reply(s, clinician().model_copy(update={"author_id": OTHER}), NOW, "x"),
        refusal=Refusal.NOT_A_PARTY,
    ),
    "a clinician through a representative: refused": Case(
        opened,
        lambda s: decisions.reply(
            s,
            clinician(
                representative=Representative(
                    id="r-1", relation="guardian", birth_date=date(1970, 1, 1)
                )
            ),
            NOW,
            "x",
        ),
        refusal=Refusal.REPRESENTATIVE_NOT_ALLOWED,
    ),
    "the patient follows up after the answer": Case(
        answered,
        lambda s: decisions.reply(s, patient(), NOW, "m-2"),
        Status.AWAITING_CLINICIAN,
        (Audience.CLINICIAN, NotificationEvent.NEW_MESSAGE),
        (JournalEntryKind.MESSAGE,),
        message=True,
    ),
    "the patient may not write twice before the answer": Case(
        opened,
        lambda s: decisions.reply(s, patient(), NOW, "m-2"),
        refusal=Refusal.INVALID_TRANSITION,
    ),
    "close without a message: nothing to charge for": Case(
        opened,
        lambda s: decisions.close(s, CloseCommand(clinician_id=CLINICIAN), NOW, "m-9"),
        Status.CLOSED,
        (Audience.PATIENT, NotificationEvent.CLOSED),
        (JournalEntryKind.CLOSE,),
        copayment=CopaymentStatus.NOT_APPLICABLE,
    ),
    "declined: the practice's text, nothing billed": Case(
        opened,
        lambda s: decisions.close(
            s,
            CloseCommand(clinician_id=CLINICIAN, reason=CloseReason.DECLINED),
            NOW,
            "m-9",
            "Book an appointment.",
        ),
        Status.CLOSED,
        (Audience.PATIENT, NotificationEvent.CLOSED),
        (JournalEntryKind.MESSAGE, JournalEntryKind.CLOSE),
        message=True,
        copayment=CopaymentStatus.NO_CHARGE,
    ),
    "close while the settlement runs: it decides the co-payment": Case(
        answered,
        lambda s: decisions.close(s, CloseCommand(clinician_id=CLINICIAN), NOW, "m-9"),
        Status.CLOSED,
        (Audience.PATIENT, NotificationEvent.CLOSED),
        (JournalEntryKind.CLOSE,),
    ),
    "close after only a clarifying question: no charge": Case(
        lambda: answered(billable=False),
        lambda s: decisions.close(s, CloseCommand(clinician_id=CLINICIAN), NOW, "m-9"),
        Status.CLOSED,
        (Audience.PATIENT, NotificationEvent.CLOSED),
        (JournalEntryKind.CLOSE,),
        copayment=CopaymentStatus.NO_CHARGE,
    ),
    "withdraw before any reply": Case(
        opened,
        lambda s: decisions.withdraw(s, WithdrawCommand(patient_id=PATIENT.id), NOW),
        Status.WITHDRAWN,
        (Audience.CLINICIAN, NotificationEvent.WITHDRAWN),
        (JournalEntryKind.WITHDRAW,),
        copayment=CopaymentStatus.NOT_APPLICABLE,
    ),
    "withdraw after a reply: refused": Case(
        answered,
        lambda s: decisions.withdraw(s, WithdrawCommand(patient_id=PATIENT.id), NOW),
        refusal=Refusal.INVALID_TRANSITION,
    ),
    "reassign: the other clinician is told, the deadline kept": Case(
        opened,
        lambda s: decisions.reassign(
            s,
            ReassignCommand(recipient_id=OTHER, reason="ill", by="office"),
            DIRECTORY.model_copy(update={"recipient_id": OTHER}),
            NOW,
        ),
        Status.AWAITING_CLINICIAN,
        (Audience.CLINICIAN, NotificationEvent.REASSIGNED),
        (JournalEntryKind.REASSIGN,),
    ),
    "reassign to the same clinician: nothing": Case(
        opened,
        lambda s: decisions.reassign(
            s, ReassignCommand(recipient_id=CLINICIAN, reason="-", by="office"), DIRECTORY, NOW
        ),
        nothing=True,
    ),
    "a draft expires: nothing journaled, told or billed": Case(
        lambda: opened(None),
        lambda s: decisions.timer_fired(s, TimerKind.EXPIRE_DRAFT, NOW),
        Status.EXPIRED,
        copayment=CopaymentStatus.NOT_APPLICABLE,
    ),
    "the reminder goes to the clinician": Case(
        opened,
        lambda s: decisions.timer_fired(s, TimerKind.REMIND, NOW),
        Status.AWAITING_CLINICIAN,
        (Audience.CLINICIAN, NotificationEvent.REMINDER),
    ),
    "overdue: the practice is told": Case(
        opened,
        lambda s: decisions.timer_fired(s, TimerKind.MARK_OVERDUE, NOW),
        Status.AWAITING_CLINICIAN,
        (Audience.PRACTICE, NotificationEvent.OVERDUE),
    ),
    "the morning after: the patient is told the answer is late": Case(
        opened,
        lambda s: decisions.timer_fired(s, TimerKind.TELL_PATIENT_LATE, NOW),
        Status.AWAITING_CLINICIAN,
        (Audience.PATIENT, NotificationEvent.ANSWER_LATE),
    ),
    "30 days without the patient: closed, journaled": Case(
        answered,
        lambda s: decisions.timer_fired(s, TimerKind.CLOSE_FOR_INACTIVITY, NOW),
        Status.CLOSED,
        (Audience.PATIENT, NotificationEvent.CLOSED),
        (JournalEntryKind.AUTO_CLOSE,),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_event_is_decided_as_the_lifecycle_says(case: Case) -> None:
    state = case.state()
    before = state.model_copy(deep=True)

    decision = case.decide(state)

    assert state == before, "a decision never changes the state it was given"
    if case.nothing:
        assert decision is None
        return
    if case.refusal is not None:
        assert isinstance(decision, Refused) and decision.refusal == case.refusal
        return
    decided = _decided(decision)
    event, new = decided.event, decided.state
    assert new.status == case.status
    assert new.revision == state.revision + 1 == event.record.revision
    assert event.record.status == new.status
    told = [(n.audience, n.event) for n in event.notifications]
    assert told == ([case.told] if case.told else [])
    assert all(n.queued for n in event.notifications), "queued in the event's transaction"
    assert tuple(entry.kind for entry in event.journal) == case.journal
    assert (event.message is not None) == case.message
    assert (event.bill is not None) == case.billed
    assert new.copayment.status == case.copayment


def test_the_next_timer_follows_the_case() -> None:
    draft, waiting, answer = opened(None), opened(), answered()
    reminded = decisions.timer_fired(waiting, TimerKind.REMIND, NOW).state
    overdue = decisions.timer_fired(reminded, TimerKind.MARK_OVERDUE, NOW).state
    late = decisions.timer_fired(overdue, TimerKind.TELL_PATIENT_LATE, NOW).state

    kinds = [decisions.next_timer(s) for s in (draft, waiting, reminded, overdue, late, answer)]

    assert [k[1] if k else None for k in kinds] == [
        TimerKind.EXPIRE_DRAFT,
        TimerKind.REMIND,
        TimerKind.MARK_OVERDUE,
        TimerKind.TELL_PATIENT_LATE,
        None,
        TimerKind.CLOSE_FOR_INACTIVITY,
    ]


def test_settlement_is_an_event_carrying_what_prices_it() -> None:
    state = answered()
    bill = Bill(clinician_id=CLINICIAN, at=NOW)

    settled = decisions.settle(state, bill, NOW, specialist=True, frikort=False)

    request = settled.event.settlement
    assert request is not None and request.specialist_in_general_practice
    assert request.clinician_id == CLINICIAN and request.replied_at == NOW
    assert settled.state.revision == state.revision + 1
    assert not settled.event.notifications and not settled.event.journal


def test_a_settlement_that_tells_the_portal_carries_its_notice_priced_by_the_commit() -> None:
    state = answered()
    bill = Bill(clinician_id=CLINICIAN, at=NOW)

    settled = decisions.settle(state, bill, NOW, specialist=False, frikort=False, tell_portal=True)

    [notice] = settled.event.notifications
    assert (notice.audience, notice.event) == (
        Audience.PATIENT,
        NotificationEvent.COPAYMENT_SETTLED,
    )
    assert notice.consultation_id == state.consultation_id and notice.recipient_id is None
    # Decided before the worker's tariff table prices it: the commit fills it in.
    outcome = CopaymentOutcome(
        status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("167")
    )
    priced = entries.settled_as(notice, outcome)
    assert priced.copayment == Copayment(
        status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("167")
    )
    assert priced.notification_key == notice.notification_key
    # Every other notification passes through as it is.
    other = _decided(decisions.reply(opened(), clinician(), NOW, "m-2")).event.notifications[0]
    assert entries.settled_as(other, outcome) == other


@pytest.mark.parametrize(
    ("patient_fields", "exemption", "expected"),
    [
        ({"frikort": True}, None, True),
        ({}, ExemptionCode.OTHER, False),
        ({"exemption": ExemptionCode.OTHER, "exemption_note": "x"}, None, False),
        ({}, None, None),
    ],
    ids=["start flag this year", "declared with the message", "declared at start", "ask"],
)
def test_the_frikort_register_is_asked_only_when_nothing_else_answers(
    patient_fields: dict[str, Any], exemption: ExemptionCode | None, expected: bool | None
) -> None:
    state = answered().model_copy(update={"patient": PATIENT.model_copy(update=patient_fields)})
    bill = Bill(clinician_id=CLINICIAN, at=NOW, exemption=exemption)

    assert CopaymentCase(state).frikort_without_register(bill) is expected


def test_a_start_the_patient_did_not_accept_the_copayment_for_is_refused() -> None:
    refusal = checks.check_start(
        decisions.new_case(start(), NOW), start(copayment_accepted=False), NOW.date()
    )

    assert refusal is not None and refusal.refusal == Refusal.COPAYMENT_NOT_ACCEPTED
