"""Whose message a journal entry answers: the record system links it (`inResponseTo`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.effects import JournalEntryInput, JournalEntryKind
from domain.entries import answered_role
from domain.models import Role


def _entry(kind: JournalEntryKind, role: Role) -> JournalEntryInput:
    return JournalEntryInput(
        entry_key=f"{kind.value}:1",
        consultation_id="case-1",
        patient_id="01017012345",
        kind=kind,
        author_role=role,
        author_id="author",
        text="Text.",
        occurred_at=datetime(2027, 3, 24, 8, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("kind", "role", "answers"),
    [
        (JournalEntryKind.MESSAGE, Role.CLINICIAN, Role.PATIENT),
        (JournalEntryKind.MESSAGE, Role.PATIENT, Role.CLINICIAN),
        (JournalEntryKind.MESSAGE, Role.SYSTEM, None),
        (JournalEntryKind.CLOSE, Role.CLINICIAN, None),
        (JournalEntryKind.WITHDRAW, Role.PATIENT, None),
        (JournalEntryKind.AUTO_CLOSE, Role.SYSTEM, None),
        (JournalEntryKind.REASSIGN, Role.SYSTEM, None),
    ],
)
def test_a_message_answers_the_other_side_and_nothing_else_answers(
    kind: JournalEntryKind, role: Role, answers: Role | None
) -> None:
    assert answered_role(_entry(kind, role)) == answers
