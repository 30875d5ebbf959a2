"""A process whose settings cannot work refuses to start, with one line naming the setting and
a non-zero exit status, before it serves anything."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.harness.ports import free_port
from dev.harness.processes import ROOT
from tests.support import closed_temporal_address

# Far longer than a process needs to import and decide; only a hung process ever reaches it.
PROCESS_LIMIT_SECONDS = 120

API = [sys.executable, "-m", "api"]
WORKER = [sys.executable, "worker.py"]
PROCESSES = pytest.mark.parametrize("command", [API, WORKER], ids=["api", "worker"])


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The test session's settings (keys, token secret), nothing reachable, and `settings`."""
    env = {**os.environ}
    env.pop("ECONSULT_SECRETS_DIR", None)
    env.update(
        API_HOST="127.0.0.1",
        API_PORT=str(free_port()),
        TEMPORAL_ADDRESS=closed_temporal_address(),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'econsult.db'}",
        WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
    )
    env.update(settings)
    return env


def refused(command: list[str], env: dict[str, str]) -> str:
    """The last line the refused process wrote to stderr (it must have exited non-zero)."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=PROCESS_LIMIT_SECONDS
    )
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "the process said nothing"
    return lines[-1]


def key(length: int) -> str:
    return base64.b64encode(b"k" * length).decode()


@PROCESSES
@pytest.mark.parametrize(
    "keys",
    ["", "no-colon-here", "k1:not base64!", f"k1:{key(16)}", f"k1:{key(32)},k1:{key(32)}"],
    ids=["empty", "malformed", "not_base64", "aes_128_length", "duplicate_ids"],
)
def test_unusable_encryption_keys_stop_the_process_at_start(
    tmp_path: Path, command: list[str], keys: str
) -> None:
    line = refused(command, environment(tmp_path, ECONSULT_ENCRYPTION_KEYS=keys))

    assert "refuses to start" in line
    assert "ECONSULT_ENCRYPTION_KEYS" in line


@pytest.fixture
def taken_address() -> Iterator[str]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = taken.getsockname()
        yield f"{host}:{port}"


def test_a_worker_whose_metrics_address_is_taken_stops_at_start(
    tmp_path: Path, taken_address: str
) -> None:
    line = refused(WORKER, environment(tmp_path, WORKER_METRICS_ADDRESS=taken_address))

    assert "WORKER_METRICS_ADDRESS" in line
    assert taken_address in line


@PROCESSES
def test_a_secrets_dir_that_is_not_there_stops_the_process_at_start(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "no-such-dir"

    line = refused(command, environment(tmp_path, ECONSULT_SECRETS_DIR=str(missing)))

    assert "ECONSULT_SECRETS_DIR" in line
    assert str(missing) in line


@PROCESSES
def test_a_secrets_dir_that_is_a_file_stops_the_process_at_start(
    tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "secret.txt"
    a_file.write_text("whsec_x")

    line = refused(command, environment(tmp_path, ECONSULT_SECRETS_DIR=str(a_file)))

    assert "ECONSULT_SECRETS_DIR" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_an_unreadable_secrets_dir_stops_the_worker_at_start(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o000)
    try:
        line = refused(WORKER, environment(tmp_path, ECONSULT_SECRETS_DIR=str(closed)))
    finally:
        closed.chmod(0o700)

    assert "ECONSULT_SECRETS_DIR" in line
    assert "not readable" in line


def test_a_setting_that_does_not_parse_is_named_in_one_line(tmp_path: Path) -> None:
    line = refused(API, environment(tmp_path, API_WRITE_BURST="many"))

    assert "API_WRITE_BURST" in line


@pytest.mark.parametrize(
    "content",
    [None, "not json", "[]", '[{"valid_from": "2026-07-01", "tariff": "2ae"}]'],
    ids=["missing", "not_json", "empty", "incomplete_row"],
)
def test_a_tariff_file_that_cannot_be_used_stops_the_worker_before_it_connects(
    tmp_path: Path, content: str | None
) -> None:
    tariffs = tmp_path / "tariffs.json"
    if content is not None:
        tariffs.write_text(content)

    # Temporal is unreachable: a line naming the file, not TEMPORAL_ADDRESS, is said first.
    line = refused(WORKER, environment(tmp_path, ECONSULT_TARIFFS_FILE=str(tariffs)))

    assert "refuses to start: ECONSULT_TARIFFS_FILE" in line
    assert str(tariffs) in line


@PROCESSES
def test_an_allowed_network_that_does_not_parse_stops_the_process_at_start(
    tmp_path: Path, command: list[str]
) -> None:
    env = environment(tmp_path, OUTBOUND_ALLOWED_NETWORKS="10.20.0.0/16,10.0.0.0/33")

    line = refused(command, env)

    assert "OUTBOUND_ALLOWED_NETWORKS" in line and "10.0.0.0/33" in line
