"""`make sandbox` (python -m dev.sandbox) on free ports, and each guide's "Sandbox" walk-through
run as written: every timer-driven event of a consultation within a minute of wall time."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dev.harness.ports import free_port
from dev.harness.processes import ROOT, Processes

GUIDES = ["guide-portal.md", "guide-record-system.md"]
# The webhooks of the timers (docs/lifecycle.md): reminder, deadline, late notice, the
# automatic close; draft expiry tells nobody, so it is read from the inbox.
TIMER_EVENTS = {"econsult.reminder", "econsult.overdue", "econsult.answer_late", "econsult.closed"}
READY_WITHIN_SECONDS = 120.0
WALKTHROUGH_WITHIN_SECONDS = 60.0
# Settings the sandbox must choose itself, not inherit from the test session.
OWN_SETTINGS = (
    "DATABASE_URL",
    "WEBHOOK_PORTAL_URL",
    "WEBHOOK_PORTAL_SECRETS",
    "WEBHOOK_PRACTICE_URL",
    "WEBHOOK_PRACTICE_SECRETS",
    "FHIR_BASE_URL",
    "FHIR_TOKEN_URL",
    "FHIR_CLIENT_ID",
    "FHIR_CLIENT_SECRET",
    "ECONSULT_SANDBOX",
)


@dataclass
class Sandbox:
    env: dict[str, str]
    variables: dict[str, str]

    def get(self, url: str, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.variables[token]}"} if token else {}
        return httpx.get(url, headers=headers, timeout=30)


def walkthrough(guide: str) -> str:
    """The shell block of the guide's "Sandbox" section, as the reader copies it."""
    section = (ROOT / "docs" / guide).read_text().split("\n## Sandbox\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def _variables(env_file: Path) -> dict[str, str]:
    pairs = (shlex.split(line)[1].split("=", 1) for line in env_file.read_text().splitlines())
    return dict(pairs)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    data = tmp_path_factory.mktemp("make-sandbox")
    env = {k: v for k, v in os.environ.items() if k not in OWN_SETTINGS}
    env.update(
        ECONSULT_DEV_DATA=str(data),
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        API_HOST="127.0.0.1",
        API_PORT=str(free_port()),
        SANDBOX_RECEIVER_PORT=str(free_port()),
        WORKER_METRICS_ADDRESS="",
    )
    env_file = data / "sandbox" / "env.sh"
    with Processes(data) as processes:
        command = [sys.executable, "-m", "dev.sandbox"]
        processes.start("make-sandbox", command, env, own_session=True)
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while not env_file.exists():
            log = processes.log("make-sandbox")
            assert not processes.exited(), f"make sandbox exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"make sandbox not ready: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield Sandbox(env, _variables(env_file))


def _timer_events_by_case(sandbox: Sandbox) -> dict[str, set[str]]:
    events = sandbox.get(f"{sandbox.variables['RECEIVER']}/events").json()
    by_case: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event["type"] in TIMER_EVENTS:
            by_case[event["data"]["consultation_id"]].add(event["type"])
    return by_case


def _inbox(sandbox: Sandbox, status: str) -> set[str]:
    answer = sandbox.get(
        f"{sandbox.variables['API']}/v1/inbox?status={status}&limit=100", "CLINICIAN"
    )
    return {item["id"] for item in answer.json()["items"]}


def _auto_close_entries(sandbox: Sandbox) -> set[str]:
    bundle = sandbox.get(f"{sandbox.variables['RECEIVER']}/fhir/Communication").json()
    return {
        entry["resource"]["about"][0]["identifier"]["value"]
        for entry in bundle["entry"]
        if entry["resource"]["category"][0]["coding"][0]["code"] == "auto_close"
    }


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_walkthrough_reaches_every_timer_driven_event_within_a_minute(
    sandbox: Sandbox, guide: str
) -> None:
    expired_before = _inbox(sandbox, "expired")
    cases_before = set(_timer_events_by_case(sandbox))

    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", walkthrough(guide)],
        cwd=ROOT,
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=2 * WALKTHROUGH_WITHIN_SECONDS,
    )
    took = time.monotonic() - started

    assert done.returncode == 0, done.stdout + done.stderr
    print(f"{guide}: walk-through ran in {took:.1f} s of wall time")
    assert took < WALKTHROUGH_WITHIN_SECONDS
    # Seen from outside the walk-through: one new draft expired, and one new consultation got
    # every timer's webhook and its automatic close reached the record system.
    assert len(_inbox(sandbox, "expired") - expired_before) == 1
    new_cases = {
        case
        for case, kinds in _timer_events_by_case(sandbox).items()
        if case not in cases_before and kinds == TIMER_EVENTS
    }
    assert len(new_cases) == 1, done.stdout
    assert new_cases <= _auto_close_entries(sandbox)
    assert new_cases <= _inbox(sandbox, "closed")
