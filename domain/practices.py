"""A practice's own texts, and what the service says when a practice has set none; pure, no I/O."""

from __future__ import annotations

from datetime import date

from domain.base import Identifier, Model
from domain.texts import DEFAULT_DECLINE_MESSAGE

__all__ = [
    "DEFAULT_DECLINE_MESSAGE",
    "DeclineMessage",
    "PracticeCalendar",
    "PracticeQuestion",
    "decline_message",
]


class PracticeQuestion(Model):
    """What the workflow asks about the practice a consultation belongs to."""

    practice_id: Identifier


class PracticeCalendar(Model):
    """The practice's closed days as they are now: not working days for a deadline computed
    now (a deadline already running is not moved)."""

    closed_days: list[date] = []


class DeclineMessage(Model):
    """The text the patient gets when the clinician declines the consultation."""

    text: str
    # False when the practice has no text of its own and the service's default is used.
    from_practice: bool = False


def decline_message(practice_text: str | None) -> DeclineMessage:
    """The practice's decline text, or the default when it has none."""
    if practice_text is None or not practice_text.strip():
        return DeclineMessage(text=DEFAULT_DECLINE_MESSAGE)
    return DeclineMessage(text=practice_text, from_practice=True)
