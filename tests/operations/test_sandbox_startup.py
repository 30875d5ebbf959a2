"""ECONSULT_SANDBOX: the API and the worker start only against Temporal's time-skipping test
server, and refuse a server whose clock cannot be moved, naming the setting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from dev.harness.ports import free_port, wait_for_port
from dev.harness.processes import Processes
from dev.sandbox import temporal_test_server
from tests.operations.test_startup_checks import API, PROCESSES, environment, refused
from tests.support import temporal_address

STARTS_WITHIN_SECONDS = 60.0


@pytest.fixture(scope="module")
def test_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test server as `make sandbox` runs it (time skipping locked)."""
    address = f"127.0.0.1:{free_port()}"
    with Processes(tmp_path_factory.mktemp("test-server")) as processes:
        processes.start("temporal-test-server", temporal_test_server(address), {})
        wait_for_port(address)
        yield address


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
        try:
            url = f"http://127.0.0.1:{env['API_PORT']}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    return "worker ready" in processes.log("process").read_text()


@PROCESSES
def test_the_sandbox_starts_on_the_time_skipping_test_server(
    tmp_path: Path, command: list[str], test_server: str
) -> None:
    env = environment(tmp_path, ECONSULT_SANDBOX="true", TEMPORAL_ADDRESS=test_server)
    with Processes(tmp_path / "logs") as processes:
        processes.start("process", [*command], env)
        deadline = time.monotonic() + STARTS_WITHIN_SECONDS
        while not _serving(command, env, processes):
            log = processes.log("process").read_text()
            assert not processes.exited(), log[-3000:]
            assert time.monotonic() < deadline, log[-3000:]
            time.sleep(0.5)
