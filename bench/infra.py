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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType

from infra import scratch_postgres
from infra.codec import new_key_setting
from infra.scratch_postgres import PostgresServer
from workflows.search_attributes import dev_server_flags

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# A role there must be allowed to create databases; when nothing answers, a throw-away server.
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", scratch_postgres.DEFAULT_URL)
# The PostgreSQL of the run in progress, so its figures share one (embedded) server.
_running: list[PostgresServer] = []


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


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL of a whole bench run, started (if nothing answers) once for all figures."""
    with scratch_postgres.postgres_server(BENCH_DATABASE_URL) as server:
        _running.append(server)
        try:
            yield server
        finally:
            _running.remove(server)


class BenchDatabase:
    """A fresh, migrated PostgreSQL database, dropped afterwards (on the run's server, or on one
    of its own outside a run)."""

    def __enter__(self) -> str:
        self._stack = ExitStack()
        try:
            # The server, for admin statements on the database (its name is in the URL).
            self.server = _running[-1] if _running else self._stack.enter_context(postgres())
            return self._stack.enter_context(self.server.fresh_database("econsult_bench"))
        except BaseException:
            self._stack.close()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.__exit__(kind, error, tb)


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
