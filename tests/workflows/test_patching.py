"""A change to what the workflow issues must come with `workflow.patched`: shown on a copy of
today's workflow that adds one timer before the clinician's reminder, against the recorded
1.0 history of a reminded case. Unguarded it breaks the consultations in flight; guarded it
replays them unchanged (docs/lifecycle.md, "Changing the workflow")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from domain.models import ConsultationStart, ConsultationView
from tests.histories.record import HISTORY_CONVERTER
from workflows.econsultation import EConsultation

# A case that was reminded, went overdue and closed for inactivity.
REMINDED = (
    Path(__file__).resolve().parents[1] / "histories" / "1.0" / "overdue_then_inactive.0.json"
)
CHANGE = "pause-before-reminder"


@workflow.defn(name="EConsultation", sandboxed=False)
class UnguardedChange(EConsultation):
    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        return await super().run(start)

    async def _remind(self) -> None:
        await workflow.sleep(timedelta(seconds=1))
        await super()._remind()


@workflow.defn(name="EConsultation", sandboxed=False)
class GuardedChange(EConsultation):
    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        return await super().run(start)

    async def _remind(self) -> None:
        if workflow.patched(CHANGE):
            await workflow.sleep(timedelta(seconds=1))
        await super()._remind()


async def _replayed_on(workflow_class: type) -> Exception | None:
    history = WorkflowHistory.from_json("econsultation-reminded", REMINDED.read_text())
    replayer = Replayer(workflows=[workflow_class], data_converter=HISTORY_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


async def test_a_change_without_a_patch_fails_the_replay_of_recorded_histories() -> None:
    failure = await _replayed_on(UnguardedChange)

    assert isinstance(failure, NondeterminismError), failure


async def test_the_same_change_behind_workflow_patched_replays() -> None:
    assert await _replayed_on(GuardedChange) is None


async def test_todays_workflow_replays_the_history_the_two_tests_use() -> None:
    assert await _replayed_on(EConsultation) is None
