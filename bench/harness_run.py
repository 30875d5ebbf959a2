"""What a benchmark runs against: PostgreSQL, a Temporal dev server, worker and API processes
(started with dev.harness, as the tests and `make run` start them)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dev.harness import databases
from dev.harness.databases import PostgresServer
from dev.harness.ports import free_port, wait_for_port
from dev.harness.processes import ROOT, Processes, temporal_dev_server
from infra.codec import new_key_setting

# A role there must be allowed to create databases; when nothing answers, a throw-away server.
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", databases.DEFAULT_URL)
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


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL of a whole bench run, started (if nothing answers) once for all figures."""
    with databases.postgres_server(BENCH_DATABASE_URL) as server:
        _running.append(server)
        try:
            yield server
        finally:
            _running.remove(server)


@contextmanager
def bench_server() -> Iterator[PostgresServer]:
    """The run's PostgreSQL, or one of its own outside a run."""
    if _running:
        yield _running[-1]
        return
    with postgres() as server:
        yield server


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (its SQLAlchemy URL), dropped afterwards."""
    with bench_server() as server, server.fresh_database("econsult_bench") as url:
        yield url


TOKEN_LIFETIME_SECONDS = 6 * 3600


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
        # The bench's tokens last as long as a run, longer than the API's default cap.
        "AUTH_MAX_TOKEN_LIFETIME": str(TOKEN_LIFETIME_SECONDS),
        **extra,
    }


def start_temporal(processes: Processes) -> int:
    """A headless, in-memory Temporal dev server on a free port; its port once it listens."""
    port = free_port()
    processes.start("temporal", temporal_dev_server(f"127.0.0.1:{port}"), dict(os.environ))
    wait_for_port(port)
    return port


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    current, peak = (float(fields[key].strip().split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    return current, peak
