"""A thread a guardian wrote before guardianship was retired still replays (docs/parties.md).

The history was recorded on the flow before `next_of_kin` (the decide-then-commit flow, with
commands as signals): a guardian opened the case for an adult and wrote a follow-up. The
workflow checks a recorded command again on replay; were a guardian refused there as on a new
message, the follow-up's commit would be missing and the replay nondeterministic.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.histories.record import HISTORY_CONVERTER
from worker import WORKFLOW_RUNNER
from workflows.econsultation import EConsultation

RECORDED = Path(__file__).parent / "recorded" / "guardian_wrote_a_thread.0.json"


async def test_a_thread_a_guardian_wrote_replays_as_it_was_decided() -> None:
    history = WorkflowHistory.from_json("econsultation-guardian", RECORDED.read_text())
    replayer = Replayer(
        workflows=[EConsultation], data_converter=HISTORY_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["reply", "reply", "close"]
