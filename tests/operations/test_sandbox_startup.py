"""ECONSULT_SANDBOX: the API and the worker start only against Temporal's time-skipping test
server, and refuse a server whose clock cannot be moved, naming the setting."""

from __future__ import annotations

import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from dev.harness.ports import answers
from dev.harness.processes import Processes
from tests.operations.test_startup_checks import API, PROCESSES, environment, refused
from tests.support import temporal_address

STARTS_WITHIN_SECONDS = 60.0


@PROCESSES
def test_the_sandbox_refuses_a_temporal_server_that_does_not_skip_time(
    tmp_path: Path, command: list[str], dev_env: WorkflowEnvironment
) -> None:
    env = environment(tmp_path, ECONSULT_SANDBOX="true", TEMPORAL_ADDRESS=temporal_address(dev_env))

    line = refused(command, env)

    assert "refuses to start" in line
    assert "ECONSULT_SANDBOX" in line
    assert "time-skipping test server" in line


def _serving(command: list[str], env: dict[str, str], processes: Processes) -> bool:
    if command == API:
        return answers(f"http://127.0.0.1:{env['API_PORT']}/healthz")
    return "worker ready" in processes.log("process").read_text()


@PROCESSES
def test_the_sandbox_starts_on_the_time_skipping_test_server(
    tmp_path: Path, command: list[str], sandbox_temporal: str
) -> None:
    env = environment(tmp_path, ECONSULT_SANDBOX="true", TEMPORAL_ADDRESS=sandbox_temporal)
    with Processes(tmp_path / "logs") as processes:
        processes.start("process", [*command], env)
        deadline = time.monotonic() + STARTS_WITHIN_SECONDS
        while not _serving(command, env, processes):
            log = processes.log("process").read_text()
            assert not processes.exited(), log[-3000:]
            assert time.monotonic() < deadline, log[-3000:]
            time.sleep(0.5)
