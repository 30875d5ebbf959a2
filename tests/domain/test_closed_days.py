"""A practice's closed days are not working days for a deadline computed at a submit or a
patient's follow-up, as the practice has them then (docs/deadlines.md); a deadline already
running is not moved."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain import decisions
from domain.decisions import Decided, Decision
from domain.effects import DirectoryAnswer
from domain.models import (
    ConsultationStart,
    ConsultationState,
    MessageContent,
    ReplyCommand,
    Role,
    SubmitCommand,
)
from domain.parties import Patient
from domain.working_days import OSLO, oslo_day

# Friday 6 March 2026: five working days on is Friday 13 March.
FRIDAY = datetime(2026, 3, 6, 10, 0, tzinfo=OSLO)
DUE_FRIDAY, NEXT_MONDAY = date(2026, 3, 13), date(2026, 3, 16)
DIRECTORY = DirectoryAnswer(
    recipient_id="hpr-1", practice_id="practice-1", reply_within_working_days=5
)


def _decided(decision: Decision) -> Decided:
    assert isinstance(decision, Decided), decision
    return decision


def _draft(directory: DirectoryAnswer = DIRECTORY) -> ConsultationState:
    start = ConsultationStart(
        consultation_id="c-1",
        patient=Patient(id="p-1", birth_date=date(1980, 5, 17)),
        clinician_id="hpr-1",
        recipient_id="hpr-1",
        copayment_accepted=True,
    )
    opened = FRIDAY - timedelta(hours=1)
    return decisions.open_case(
        decisions.new_case(start, opened), start, directory, opened, "m-0"
    ).state


def _submitted(closed_days: list[date] | None, state: ConsultationState | None = None) -> date:
    command = SubmitCommand(message=MessageContent(body="A rash."))
    decided = _decided(decisions.submit(state or _draft(), command, FRIDAY, "m-1", closed_days))
    assert decided.state.reply_due_at is not None
    return oslo_day(decided.state.reply_due_at)


def test_without_closed_days_a_friday_submit_is_due_the_next_friday() -> None:
    assert _submitted([]) == DUE_FRIDAY


def test_a_closed_friday_before_a_weekend_moves_the_deadline_to_the_monday() -> None:
    assert _submitted([DUE_FRIDAY]) == NEXT_MONDAY


def test_a_closed_day_after_the_deadline_does_not_move_it() -> None:
    assert _submitted([NEXT_MONDAY]) == DUE_FRIDAY


def test_the_submission_day_closed_changes_nothing_it_never_counts() -> None:
    assert _submitted([oslo_day(FRIDAY)]) == DUE_FRIDAY


def test_the_closed_days_of_the_submit_replace_those_read_at_the_start() -> None:
    closed_at_start = DIRECTORY.model_copy(update={"closed_days": [DUE_FRIDAY]})

    assert _submitted([], _draft(closed_at_start)) == DUE_FRIDAY
    # A run from before they were read at each message keeps those of its start.
    assert _submitted(None, _draft(closed_at_start)) == NEXT_MONDAY


def test_a_follow_up_counts_the_closed_days_the_practice_has_then() -> None:
    command = SubmitCommand(message=MessageContent(body="A rash."))
    submitted = _decided(decisions.submit(_draft(), command, FRIDAY, "m-1", [])).state
    answer = ReplyCommand(
        author_role=Role.CLINICIAN, author_id="hpr-1", message=MessageContent(body="Cream.")
    )
    answered = _decided(decisions.reply(submitted, answer, FRIDAY, "m-2", [DUE_FRIDAY])).state
    follow_up = ReplyCommand(
        author_role=Role.PATIENT, author_id="p-1", message=MessageContent(body="Thanks.")
    )

    followed = _decided(decisions.reply(answered, follow_up, FRIDAY, "m-3", [DUE_FRIDAY])).state

    # The clinician's answer started no deadline; the follow-up's counts the closed Friday.
    assert submitted.reply_due_at is not None and oslo_day(submitted.reply_due_at) == DUE_FRIDAY
    assert followed.reply_due_at is not None and oslo_day(followed.reply_due_at) == NEXT_MONDAY
