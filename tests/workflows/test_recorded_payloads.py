"""Payloads recorded in histories still read as today's models, and are written the same way.

The workflow's answer (ConsultationView: the workflow result, every update's answer, the
`state` query) reaches running clients, and its state travels across continue-as-new. Both
are built from shared models; a renamed field or a changed type would break consultations in
flight without any nondeterminism, so the replay test alone would not see it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from domain.models import ConsultationStart, ConsultationView
from infra.settings import Settings
from infra.temporal import data_converter
from tests.histories.record import HISTORY_KEYS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
FILES = sorted(HISTORIES.glob("*/*.json"))


def _answers(event: HistoryEvent) -> list[Payload]:
    """ConsultationView payloads: the workflow's result and every update's answer."""
    if event.HasField("workflow_execution_completed_event_attributes"):
        return list(event.workflow_execution_completed_event_attributes.result.payloads)
    if event.HasField("workflow_execution_update_completed_event_attributes"):
        outcome = event.workflow_execution_update_completed_event_attributes.outcome
        return list(outcome.success.payloads) if outcome.HasField("success") else []
    return []


def _starts(event: HistoryEvent) -> list[Payload]:
    """ConsultationStart payloads: a run's input, and the next run's at continue-as-new."""
    if event.HasField("workflow_execution_started_event_attributes"):
        return list(event.workflow_execution_started_event_attributes.input.payloads)
    if event.HasField("workflow_execution_continued_as_new_event_attributes"):
        return list(event.workflow_execution_continued_as_new_event_attributes.input.payloads)
    return []


async def _recorded(
    path: Path, pick: Callable[[HistoryEvent], list[Payload]]
) -> list[dict[str, Any]]:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    payloads = [payload for event in history.events for payload in pick(event)]
    codec = data_converter(Settings(econsult_encryption_keys=HISTORY_KEYS)).payload_codec
    assert codec is not None
    return [json.loads(payload.data) for payload in await codec.decode(payloads)]


def _keeps(written: Any, recorded: Any) -> bool:
    """Every recorded field is written again: same name, same JSON type, same value.

    Fields may be added (older readers ignore them); none may be renamed, retyped or dropped.
    """
    if isinstance(recorded, dict):
        return isinstance(written, dict) and all(
            name in written and _keeps(written[name], value) for name, value in recorded.items()
        )
    return type(written) is type(recorded) and bool(written == recorded)


def _path_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", FILES, ids=[_path_id(path) for path in FILES])
async def test_a_recorded_answer_reads_as_todays_view_and_is_written_the_same_way(
    path: Path,
) -> None:
    for recorded in await _recorded(path, _answers):
        assert _keeps(ConsultationView.model_validate(recorded).model_dump(mode="json"), recorded)


@pytest.mark.parametrize("path", FILES, ids=[_path_id(path) for path in FILES])
async def test_a_recorded_carried_state_reads_as_todays_state_and_is_written_the_same_way(
    path: Path,
) -> None:
    for recorded in await _recorded(path, _starts):
        carried = ConsultationStart.model_validate(recorded).carried_state
        if recorded.get("carried_state") is not None:
            assert carried is not None
            assert _keeps(carried.model_dump(mode="json"), recorded["carried_state"])


async def test_the_histories_hold_answers_and_carried_states_to_check() -> None:
    """The two tests above cannot pass by reading nothing."""
    answers = [answer for path in FILES for answer in await _recorded(path, _answers)]
    starts = [start for path in FILES for start in await _recorded(path, _starts)]
    assert answers
    assert [start for start in starts if start.get("carried_state") is not None]
