"""What a benchmark runs against: PostgreSQL, a Temporal dev server, worker and API processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg

from infra.codec import new_key_setting
from workflows.search_attributes import dev_server_flags

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# What the production image compiles (`python -m compileall` in the Dockerfile).
SOURCES = ("domain", "store", "workflows", "activities", "api", "infra", "bench", "worker.py")


def compile_bytecode() -> None:
    """Bytecode for every source, as the production image has it.

    With PYTHONDONTWRITEBYTECODE set and no bytecode on disk, each sandboxed workflow run
    would compile the workflow module from source, a cost production never pays.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *SOURCES],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


class BenchDatabase:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""

    def __enter__(self) -> str:
        self.name = f"econsult_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        subprocess.run(
            [str(BIN / "alembic"), "-x", f"url={url}", "upgrade", "head"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return url.replace("postgresql://", "postgresql+psycopg://")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Processes:
    """Child processes stopped together; each logs to its own file."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []
        self.pids: dict[str, int] = {}
        self.logs = Path(tempfile.mkdtemp(prefix="econsult-bench-"))

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.children.append(child)
        self.pids[name] = child.pid
        return child

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        if kind is None:
            shutil.rmtree(self.logs, ignore_errors=True)
        else:
            print(f"process logs kept in {self.logs}", file=sys.stderr)


def service_env(temporal_port: int, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DATABASE_URL": database_url,
        "ECONSULT_ENCRYPTION_KEYS": os.environ.get(
            "ECONSULT_ENCRYPTION_KEYS", new_key_setting("bench")
        ),
        "WORKER_METRICS_ADDRESS": "",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def start_temporal(processes: Processes) -> int:
    port = free_port()
    processes.start(
        "temporal",
        [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            *dev_server_flags(),
        ],
        dict(os.environ),
    )
    wait_for_port(port)
    return port


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    current, peak = (float(fields[key].strip().split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    return current, peak
