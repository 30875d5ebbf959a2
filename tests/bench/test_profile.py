"""bench.profile's summary: samples go to the code that spent them, not to the event loop."""

from __future__ import annotations

from pathlib import Path

from bench.profile import owner, summary

LOOP = "_run_once (asyncio/base_events.py:1922)"
ACTIVITY = "CaseActivities.record_event (activities/case.py:90)"
DRIVER = "BaseCursor._execute_send (psycopg/_cursor_base.py:449)"
SANDBOX = "_Instance._run_code (temporalio/worker/workflow_sandbox/_runner.py:193)"


def test_the_innermost_non_standard_library_frame_owns_a_sample() -> None:
    assert owner([LOOP, ACTIVITY, DRIVER]) == "psycopg/_cursor_base.py"
    in_sandbox = [LOOP, SANDBOX, "exec (json/decoder.py:3)"]
    assert owner(in_sandbox) == "temporalio/worker/workflow_sandbox"
    assert owner([LOOP]) == "(native or standard library)"


def test_the_summary_shares_samples_by_owner_and_by_the_services_own_functions(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "worker-0.txt"
    raw.write_text(f"{LOOP};{ACTIVITY};{DRIVER} 3\n{LOOP};{SANDBOX} 1\n")

    printed = summary(raw, top=5)

    assert "worker-0: 4 samples holding the GIL" in printed
    assert " 75.0 %  psycopg/_cursor_base.py" in printed
    assert " 25.0 %  temporalio/worker/workflow_sandbox" in printed
    assert f" 75.0 %  {ACTIVITY}" in printed
