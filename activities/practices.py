"""Practice activities: what a practice has set for its consultations (its decline text)."""

from __future__ import annotations

from temporalio import activity

from domain.practices import DeclineMessage, PracticeQuestion, decline_message
from store.practices import Practices


class PracticeActivities:
    def __init__(self, practices: Practices) -> None:
        self._practices = practices

    @activity.defn
    async def decline_message(self, question: PracticeQuestion) -> DeclineMessage:
        """The practice's decline text; the default when it has no record or no text."""
        practice = await self._practices.get(question.practice_id)
        return decline_message(practice.decline_message if practice else None)
