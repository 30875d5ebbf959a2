"""The fault run's verdicts: late told from lost, and the targets."""

from __future__ import annotations

from typing import Any

from bench.fault_effects import classify, missing
from bench.faults import verdict


def _look(workflow: str, pending: int = 0, unsent: int = 0) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "pending_activities": [{"activity": "send_notification"}] * pending,
        "unsent_notifications": unsent,
    }


def test_missing_counts_the_gap_per_effect() -> None:
    found = {
        "a": {"messages": 4, "journal": 5, "notifications": 4, "charges": 1},
        "b": {"messages": 4, "journal": 5, "notifications": 5, "charges": 1},
    }
    assert missing(found) == {"a": {"notifications": 1}}


def test_arrived_late_pending_late_and_finished_without_it_lost() -> None:
    short = {cid: {"notifications": 1} for cid in ("arrived", "pending", "finished", "outbox")}
    still = {cid: {"notifications": 1} for cid in ("pending", "finished", "outbox")}
    looks = {
        "arrived": _look("COMPLETED"),
        "pending": _look("RUNNING", pending=1),
        "finished": _look("COMPLETED"),
        "outbox": _look("RUNNING", unsent=1),
    }
    late, lost = classify(short, still, looks, waited=12.0)
    assert set(late) == {"arrived", "pending", "outbox"}
    assert late["arrived"]["arrived_within_s"] == 12.0
    assert set(lost) == {"finished"}


def test_a_running_workflow_with_nothing_pending_is_lost() -> None:
    late, lost = classify({"x": {"journal": 1}}, {"x": {"journal": 1}}, {"x": _look("RUNNING")}, 0)
    assert not late
    assert set(lost) == {"x"}


def test_the_targets() -> None:
    clean = {
        "lost": {"notifications": 0},
        "doubled": {"charges": 0},
        "server_errors": {"503 urn:econsult:problem:unavailable with Retry-After": 4},
        "consultations_stored": 60,
        "consultations_asked": 60,
        "refused": [],
    }
    assert verdict(clean) == []
    assert verdict({**clean, "lost": {"notifications": 1}})
    assert verdict({**clean, "doubled": {"charges": 1}})
    assert verdict(
        {**clean, "server_errors": {"503 urn:econsult:problem:unavailable without Retry-After": 1}}
    )
    assert verdict({**clean, "server_errors": {"500 about:blank with Retry-After": 1}})
