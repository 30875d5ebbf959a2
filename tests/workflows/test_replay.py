"""Replay safety: recorded histories of every path replay on the current workflow code.

A change that would break consultations in flight (weeks long) fails here, in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from infra.settings import Settings
from infra.temporal import data_converter
from tests.histories.record import HISTORY_KEYS, SCENARIOS
from workflows.econsultation import EConsultation

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


def test_every_recorded_path_has_a_history() -> None:
    recorded = {path.name.split(".")[0] for path in FILES}
    assert recorded == set(SCENARIOS)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
async def test_a_recorded_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(f"econsultation-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[EConsultation],
        data_converter=data_converter(Settings(econsult_encryption_keys=HISTORY_KEYS)),
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure
