"""The decide-then-commit flow issues other activities than 1.0 did, so it ships behind
`workflow.patched` (docs/guide-developer.md, "Changing the workflow"): shown against the
recorded 1.0 history of a reminded case. Without the patch the new flow breaks the 1.0
consultations in flight; with it they replay, and run on, on the 1.0 flow."""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from domain.models import ConsultationStart, ConsultationView
from tests.histories.record import HISTORY_CONVERTER
from workflows.econsultation import Consultation, EConsultation

# A case that was reminded, went overdue and closed for inactivity.
REMINDED = (
    Path(__file__).resolve().parents[1] / "histories" / "1.0" / "overdue_then_inactive.0.json"
)


@workflow.defn(name="EConsultation", sandboxed=False)
class WithoutThePatch(EConsultation):
    @workflow.init
    def __init__(self, start: ConsultationStart) -> None:
        self._flow = Consultation(start)

    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        return await super().run(start)


async def _replayed_on(workflow_class: type) -> Exception | None:
    history = WorkflowHistory.from_json("econsultation-reminded", REMINDED.read_text())
    replayer = Replayer(workflows=[workflow_class], data_converter=HISTORY_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


async def test_the_new_flow_without_its_patch_fails_the_replay_of_a_1_0_history() -> None:
    failure = await _replayed_on(WithoutThePatch)

    assert isinstance(failure, NondeterminismError), failure


async def test_behind_its_patch_a_1_0_history_replays_on_the_1_0_flow() -> None:
    assert await _replayed_on(EConsultation) is None
