"""The service as it runs in production, on loopback: Temporal, PostgreSQL, worker, API.

One stack serves the lifecycle and latency figures, so the real service and the skeleton
share one Temporal server in the same run.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from api.auth import Scope
from bench.harness_run import (
    TOKEN_LIFETIME_SECONDS,
    bench_database,
    service_env,
    start_temporal,
)
from bench.naive import NAIVE_TASK_QUEUE
from bench.skeleton import SKELETON_TASK_QUEUE
from dev.harness import tokens
from dev.harness.ports import free_port
from dev.harness.processes import Processes

AUDIENCE = "econsult"
READY_WITHIN_SECONDS = 90.0
UNLIMITED_WRITES = 1_000_000


@dataclass(frozen=True)
class Tokens:
    """Mints the bearer tokens the API accepts (HS256 with the stack's own secret)."""

    secret: str

    def _mint(self, scope: Scope, sub: str, hpr: str | None = None) -> dict[str, str]:
        token = tokens.mint(
            self.secret,
            scope,
            sub,
            audience=AUDIENCE,
            expires_in=TOKEN_LIFETIME_SECONDS,
            hpr=hpr,
        )
        return tokens.bearer(token)

    def service(self, portal: str = "bench-portal") -> dict[str, str]:
        return self._mint(Scope.SERVICE, portal)

    def clinician(self, hpr: str) -> dict[str, str]:
        return self._mint(Scope.CLINICIAN, hpr, hpr)

    def admin(self) -> dict[str, str]:
        return self._mint(Scope.ADMIN, "bench-ops")


@dataclass(frozen=True)
class Stack:
    temporal_address: str
    database_url: str
    env: dict[str, str]
    api_url: str
    tokens: Tokens
    processes: Processes
    worker_pids: tuple[int, ...]

    @property
    def database(self) -> str:
        # Not the URL's last path segment: a socket URL ends in `?host=/folder`.
        return str(make_url(self.database_url).database)


def _wait_until_ready(api_url: str, processes: Processes) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{api_url}/readyz", timeout=5)
            # Ready for commands too: /readyz is 200 while only the case store answers.
            if response.status_code == 200 and response.json()["checks"]["temporal"] == "ok":
                return
            last = response.text
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.3)
    raise RuntimeError(f"the API never became ready ({last}); logs in {processes.logs}")


def api_env(api_port: int, secret: str) -> dict[str, str]:
    """The API's settings on loopback, trusting tokens signed with `secret`."""
    return {
        "API_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
        "AUTH_HS256_SECRET": secret,
        "AUTH_AUDIENCE": AUDIENCE,
        # The per-caller write limit is sized for one real caller; here one portal and one
        # clinician token stand for everyone, so it would measure the limiter.
        "API_WRITE_RATE_PER_SECOND": str(UNLIMITED_WRITES),
        "API_WRITE_BURST": str(UNLIMITED_WRITES),
        # Every bench case is the one bench patient's: the per-patient limit would throttle it.
        "API_PATIENT_WRITE_RATE_PER_SECOND": str(UNLIMITED_WRITES),
        "API_PATIENT_WRITE_BURST": str(UNLIMITED_WRITES),
    }


@contextmanager
def running_stack(*, workers: int = 1, skeleton: bool = True) -> Iterator[Stack]:
    """Temporal dev server, a fresh database, `python worker.py`, `python -m api` (and the
    skeleton and naive workers), each its own process; all stopped and dropped afterwards."""
    secret = secrets.token_urlsafe(32)
    api_port = free_port()
    with bench_database() as url, Processes() as processes:
        temporal_port = start_temporal(processes)
        env = service_env(
            temporal_port,
            url,
            **api_env(api_port, secret),
            BENCH_SKELETON_TASK_QUEUE=SKELETON_TASK_QUEUE,
            BENCH_NAIVE_TASK_QUEUE=NAIVE_TASK_QUEUE,
        )
        worker_pids = tuple(
            processes.start(f"worker-{n}", [sys.executable, "worker.py"], env).pid
            for n in range(workers)
        )
        if skeleton:
            processes.start("skeleton-worker", [sys.executable, "-m", "bench.skeleton_worker"], env)
            processes.start("naive-worker", [sys.executable, "-m", "bench.naive"], env)
        processes.start("api", [sys.executable, "-m", "api"], env)
        api_url = f"http://127.0.0.1:{api_port}"
        _wait_until_ready(api_url, processes)
        yield Stack(
            temporal_address=f"127.0.0.1:{temporal_port}",
            database_url=url,
            env=env,
            api_url=api_url,
            tokens=Tokens(secret),
            processes=processes,
            worker_pids=worker_pids,
        )


BENCH_PATIENT = "bench-patient"


def seed_clinician(stack: Stack, hpr: str, practice: str = "bench-practice") -> None:
    """A directory entry through the API, as an admin keeps it."""
    response = httpx.put(
        f"{stack.api_url}/v1/clinicians/{hpr}",
        json={
            "name": "Dr. Bench",
            "practice_id": practice,
            "accepts_econsultations": True,
            "reply_within_working_days": 5,
            "substitute": None,
        },
        headers=stack.tokens.admin(),
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"seeding clinician {hpr} failed: {response.text}")
    # The bench patient may write to the clinician: their regular GP.
    response = httpx.put(
        f"{stack.api_url}/v1/patients/{BENCH_PATIENT}/relations/{hpr}",
        json={"kind": "regular_gp", "valid_from": "2000-01-01", "valid_to": None},
        headers=stack.tokens.admin(),
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"relating the bench patient to {hpr} failed: {response.text}")


def consultation_body(clinician: str) -> dict[str, Any]:
    """A create with its first message, as the patient portal sends it."""
    return {
        "patient": {
            "id": BENCH_PATIENT,
            "birth_date": "1980-05-17",
            "frikort": False,
        },
        "clinician_id": clinician,
        "recipient_id": clinician,
        "copayment_accepted": True,
        "message": {"body": "I have had a rash for two weeks.", "attachment_ids": []},
    }


REPLY_BODY = {"body": "Use the cream twice a day; book an appointment if it spreads."}
