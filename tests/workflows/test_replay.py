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
# One folder per workflow version that consultations may still be running under.
VERSIONS = sorted(folder for folder in HISTORIES.iterdir() if folder.is_dir())
FILES = sorted(HISTORIES.glob("*/*.json"))


@pytest.mark.parametrize("version", VERSIONS, ids=[folder.name for folder in VERSIONS])
def test_every_path_is_recorded_for_every_version(version: Path) -> None:
    recorded = {path.name.split(".")[0] for path in version.glob("*.json")}
    assert recorded == set(SCENARIOS)


@pytest.mark.parametrize("path", FILES, ids=[f"{path.parent.name}/{path.stem}" for path in FILES])
async def test_a_recorded_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(f"econsultation-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[EConsultation],
        data_converter=data_converter(Settings(econsult_encryption_keys=HISTORY_KEYS)),
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, result.replay_failure
