"""Withdraw through a representative, and the guardian retired for new commands only
(docs/parties.md): the decisions and checks the workflow runs, without Temporal."""

from __future__ import annotations

from datetime import date

from domain import checks, decisions
from domain.checks import Refused
from domain.decisions import Decided
from domain.effects import JournalEntryKind
from domain.models import MessageContent, Refusal, Role, Status, SubmitCommand, WithdrawCommand
from domain.parties import Representative, RepresentativeRef, RepresentativeRelation
from tests.domain.test_decisions import NOW, PATIENT, opened

NEXT_OF_KIN = Representative(
    id="r-kin", relation=RepresentativeRelation.NEXT_OF_KIN, birth_date=date(1955, 4, 1)
)
GUARDIAN = Representative(id="r-guardian", relation=RepresentativeRelation.GUARDIAN)
TODAY = NOW.date()


def test_a_withdrawal_by_a_next_of_kin_is_journaled_as_theirs() -> None:
    decided = decisions.withdraw(
        opened(), WithdrawCommand(patient_id=PATIENT.id, representative=NEXT_OF_KIN), NOW
    )

    assert isinstance(decided, Decided)
    assert decided.state.status == Status.WITHDRAWN
    [entry] = decided.event.journal
    assert entry.kind == JournalEntryKind.WITHDRAW
    assert (entry.author_role, entry.author_id) == (Role.PATIENT, "r-kin")
    # Who and as what; the birth date was checked, not kept.
    assert entry.representative == RepresentativeRef(
        id="r-kin", relation=RepresentativeRelation.NEXT_OF_KIN
    )
    assert entry.patient_id == PATIENT.id


def test_a_withdrawal_by_the_patient_is_journaled_as_before() -> None:
    decided = decisions.withdraw(opened(), WithdrawCommand(patient_id=PATIENT.id), NOW)

    assert isinstance(decided, Decided)
    [entry] = decided.event.journal
    assert (entry.author_id, entry.representative) == (PATIENT.id, None)


def test_a_withdrawal_by_a_parent_of_an_adult_is_refused_and_changes_nothing() -> None:
    parent = Representative(id="r-parent", relation=RepresentativeRelation.PARENT)
    state = opened()

    refused = decisions.withdraw(
        state, WithdrawCommand(patient_id=PATIENT.id, representative=parent), NOW
    )

    assert isinstance(refused, Refused)
    assert refused.refusal == Refusal.REPRESENTATIVE_NOT_ALLOWED
    assert "a parent may write only for a child under 12" in refused.reason
    assert state.status == Status.AWAITING_CLINICIAN


def test_a_withdraw_recorded_before_it_took_a_representative_still_decodes() -> None:
    assert WithdrawCommand.model_validate({"patient_id": "p-1"}).representative is None


def test_a_guardian_is_refused_when_admitted_and_judged_as_before_when_recorded() -> None:
    draft = opened(message=None)
    submit = SubmitCommand(message=MessageContent(body="A rash."), representative=GUARDIAN)

    admitted = checks.check_new_representative(draft, GUARDIAN, TODAY)
    assert admitted is not None and admitted.refusal == Refusal.REPRESENTATIVE_NOT_ALLOWED
    assert admitted.reason.startswith("guardianship is no longer a basis")
    # The same command, taken before guardianship was retired, replays as it was decided.
    assert checks.check_submit(draft, submit, TODAY) is None
    assert isinstance(decisions.submit(draft, submit, NOW, "m-1"), Decided)


def test_a_next_of_kin_is_admitted_for_an_adult_patient() -> None:
    assert checks.check_new_representative(opened(), NEXT_OF_KIN, TODAY) is None
