"""Replay safety: recorded histories of every path replay on the current workflow code.

A change that would break consultations in flight (weeks long) fails here, in CI: a change to
what the workflow issues (an activity, a timer, an upsert, their order) replays with a
nondeterminism error unless it is guarded by `workflow.patched` (docs/lifecycle.md, "Changing
the workflow"). Paths are recorded both as backend services send commands (signals) and as
the API sends them (update-with-start and updates), which is all production traffic.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.histories.record import HISTORY_CONVERTER, SCENARIOS
from tests.histories.through_api import API_SCENARIOS
from worker import WORKFLOW_RUNNER
from workflows.econsultation import EConsultation

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
# One folder per workflow version that consultations may still be running under: 1.0, then
# one per patched change, deleted with its patch once no consultation needs it.
VERSIONS = sorted(folder for folder in HISTORIES.iterdir() if folder.is_dir())
FILES = sorted(HISTORIES.glob("*/*.json"))
# The API's commands, each the name of an update of the workflow.
API_UPDATES = {"opened", "submit", "reply", "close", "withdraw", "reassign"}


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"econsultation-{path.stem}", path.read_text())


@pytest.mark.parametrize("version", VERSIONS, ids=[folder.name for folder in VERSIONS])
def test_every_path_is_recorded_for_every_version(version: Path) -> None:
    recorded = {path.name.split(".")[0] for path in version.glob("*.json")}
    assert recorded == set(SCENARIOS) | set(API_SCENARIOS)


@pytest.mark.parametrize("version", VERSIONS, ids=[folder.name for folder in VERSIONS])
def test_the_api_paths_hold_update_with_start_and_every_update(version: Path) -> None:
    accepted: set[str] = set()
    for path in version.glob("api_*.json"):
        events = _history(path).events
        assert events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        requests = [
            event.workflow_execution_update_accepted_event_attributes.accepted_request
            for event in events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        # Created by update-with-start; every command, though sent twice, was taken once.
        assert requests[0].input.name == "opened", path.name
        update_ids = [request.meta.update_id for request in requests]
        assert len(update_ids) == len(set(update_ids)), path.name
        accepted |= {request.input.name for request in requests}
    assert accepted == API_UPDATES


# The sandbox refuses non-deterministic calls (clock, randomness, I/O) even on paths that
# happen to replay; the worker's own runner is what production replays with.
RUNNERS = {"sandboxed": SandboxedWorkflowRunner(), "as-the-worker-runs": WORKFLOW_RUNNER}


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", FILES, ids=[f"{path.parent.name}/{path.stem}" for path in FILES])
async def test_a_recorded_history_replays_without_nondeterminism(
    path: Path, runner: WorkflowRunner
) -> None:
    replayer = Replayer(
        workflows=[EConsultation], data_converter=HISTORY_CONVERTER, workflow_runner=runner
    )

    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure
