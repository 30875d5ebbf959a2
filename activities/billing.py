"""Co-payment activity: ask the frikort register (the commit prices and records the charge)."""

from __future__ import annotations

from temporalio import activity

from activities.adapters import FrikortRegister
from domain.effects import FrikortAnswer, FrikortQuestion


class BillingActivities:
    def __init__(self, frikort_register: FrikortRegister) -> None:
        self._frikort_register = frikort_register

    @activity.defn
    async def ask_frikort_register(self, question: FrikortQuestion) -> FrikortAnswer:
        """An unreachable register raises, and the workflow's retry policy waits it out."""
        holds = await self._frikort_register.holds_frikort(question.patient_id, question.on_day)
        return FrikortAnswer(holds_frikort=holds)
