"""A practice's own texts, and what the service says when a practice has set none; pure, no I/O."""

from __future__ import annotations

from domain.base import Identifier, Model

# The closing message of a declined consultation when the practice has no text of its own.
DEFAULT_DECLINE_MESSAGE = (
    "Your question is not suited to an e-consultation. Please book an appointment with your "
    "clinician so that they can help you properly."
)


class PracticeQuestion(Model):
    """What the workflow asks about the practice a consultation belongs to."""

    practice_id: Identifier


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
