"""The production shape on loopback, for the fault run and the soak: one Temporal dev server
(on a database file, so a restart keeps its state), one PostgreSQL case store, two API
processes and two workers; and a client that spreads its commands over both APIs and sends a
failed one again to the other API with the same Idempotency-Key, as a load balancer and a
well-behaved integration would between them."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.harness_run import bench_server, service_env
from bench.stack import BENCH_PATIENT, Tokens, api_env, consultation_body
from dev.harness.ports import free_port, wait_for_port
from dev.harness.processes import Processes, temporal_dev_server

API_REPLICAS = 2
WORKER_REPLICAS = 2
CLINICIAN = "9100001"
REQUEST_TIMEOUT_SECONDS = 15.0
GIVE_UP_AFTER_SECONDS = 600.0
READY_WITHIN_SECONDS = 90.0
# After a refused connection the other API is up: try it at once, not after a pause.
FAILOVER_PAUSE_SECONDS = 0.2
RETRY_AFTER_CAP_SECONDS = 5.0


def libpq(url: str) -> str:
    """The SQLAlchemy URL of the case store as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a command, as the client saw it."""

    sent: float
    answered: float
    api: int
    outcome: str  # the status code, or the name of the connection error
    ok: bool


@dataclass
class Tally:
    """What the clients saw: every attempt, every 5xx by kind, each command's latency."""

    sent: int = 0
    retried: int = 0
    failed_over: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    server_errors: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    # (answered at, seconds from first attempt to answer) per command that was answered
    commands: list[tuple[float, float]] = field(default_factory=list)

    def saw(self, what: str) -> None:
        self.answers[what] = self.answers.get(what, 0) + 1

    def saw_server_error(self, response: httpx.Response) -> None:
        """Kind of a 5xx: status, problem type, and whether it said when to retry."""
        try:
            kind = str(response.json().get("type", "-"))
        except ValueError:
            kind = "(no problem document)"
        retry_after = "with" if "Retry-After" in response.headers else "without"
        key = f"{response.status_code} {kind} {retry_after} Retry-After"
        self.server_errors[key] = self.server_errors.get(key, 0) + 1


def only_503_with_retry_after(server_errors: dict[str, int]) -> bool:
    return all(
        key.startswith("503 ") and key.endswith(" with Retry-After") for key in server_errors
    )


@dataclass
class ReplicaStack:
    processes: Processes
    env: dict[str, str]
    temporal_port: int
    temporal_db: Path
    api_ports: list[int]
    database_url: str
    admin_url: str  # libpq URL of a role that may alter the database
    tokens: Tokens

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def database(self) -> str:
        return str(make_url(self.database_url).database)

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def start_temporal(self) -> None:
        command = temporal_dev_server(self.temporal_address, db_file=self.temporal_db)
        self.processes.start("temporal", command, self.env)
        wait_for_port(self.temporal_port)

    def start_worker(self, n: int) -> None:
        self.processes.start(f"worker-{n}", [sys.executable, "worker.py"], self.env)

    def start_api(self, n: int) -> None:
        env = {**self.env, "API_PORT": str(self.api_ports[n])}
        self.processes.start(f"api-{n}", [sys.executable, "-m", "api"], env)

    def allow_connections(self, allowed: bool) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS {str(allowed).lower()}'
            )
            if not allowed:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                )

    def database_connections(self) -> int:
        """Backends connected to the case store's database (pg_stat_activity)."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
            ).fetchone()
        return int(row[0]) if row else 0


async def _wait_until_ready(url: str, processes: Processes) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    last = "no answer"
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                response = await http.get(f"{url}/readyz")
                # Ready for commands too: /readyz is 200 while only the case store answers.
                if response.status_code == 200 and response.json()["checks"]["temporal"] == "ok":
                    return
                last = response.text
            except httpx.HTTPError as error:
                last = repr(error)
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} never became ready ({last}); logs in {processes.logs}")


async def seed_clinician(stack: ReplicaStack) -> None:
    """The directory entry, and the patient's relation to the clinician (no patient may write
    to a clinician they have none with)."""
    seeds = [
        (
            f"/v1/clinicians/{CLINICIAN}",
            {
                "name": "Dr. Replicas",
                "practice_id": "replicas-practice",
                "accepts_econsultations": True,
                "reply_within_working_days": 5,
                "substitute": None,
            },
        ),
        (
            f"/v1/patients/{BENCH_PATIENT}/relations/{CLINICIAN}",
            {"kind": "regular_gp", "valid_from": "2000-01-01", "valid_to": None},
        ),
    ]
    async with httpx.AsyncClient(base_url=stack.api_urls[0], timeout=30) as http:
        for path, body in seeds:
            response = await http.put(path, json=body, headers=stack.tokens.admin())
            if response.status_code not in (200, 201):
                raise RuntimeError(f"PUT {path}: {response.status_code} {response.text}")


@asynccontextmanager
async def replica_stack(*, logs: Path | None = None) -> AsyncIterator[ReplicaStack]:
    """Temporal, a fresh migrated database, two workers and two APIs, ready and seeded; all
    stopped and the database dropped afterwards."""
    secret = secrets.token_urlsafe(32)
    api_ports = [free_port() for _ in range(API_REPLICAS)]
    with (
        bench_server() as server,
        server.fresh_database("econsult_bench") as url,
        Processes(logs) as processes,
    ):
        temporal_port = free_port()
        env = service_env(temporal_port, url, **api_env(api_ports[0], secret))
        stack = ReplicaStack(
            processes=processes,
            env=env,
            temporal_port=temporal_port,
            temporal_db=processes.logs / "temporal.db",
            api_ports=api_ports,
            database_url=url,
            admin_url=server.admin_url,
            tokens=Tokens(secret),
        )
        stack.start_temporal()
        for n in range(WORKER_REPLICAS):
            stack.start_worker(n)
        for n in range(API_REPLICAS):
            stack.start_api(n)
        for api_url in stack.api_urls:
            await _wait_until_ready(api_url, processes)
        await seed_clinician(stack)
        yield stack


class SpreadClient:
    """Commands spread over the APIs in turn; a failed attempt (connection error, timeout,
    5xx, 429) is sent again to the next API with the same Idempotency-Key."""

    def __init__(self, http: httpx.AsyncClient, urls: list[str], tally: Tally) -> None:
        self._http = http
        self._urls = urls
        self._tally = tally
        self._turn = itertools.count()

    async def command(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        tally = self._tally
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        api = next(self._turn) % len(self._urls)
        first = time.monotonic()
        deadline = first + GIVE_UP_AFTER_SECONDS
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            tally.sent += 1
            if attempt > 1:
                tally.retried += 1
            sent = time.monotonic()
            try:
                response = await self._http.post(self._urls[api] + path, json=body, headers=headers)
            except httpx.HTTPError as error:
                outcome = type(error).__name__
                tally.saw(outcome)
                tally.attempts.append(Attempt(sent, time.monotonic(), api, outcome, ok=False))
                api = (api + 1) % len(self._urls)
                tally.failed_over += 1
                await asyncio.sleep(FAILOVER_PAUSE_SECONDS)
                continue
            answered = time.monotonic()
            status = response.status_code
            tally.saw(str(status))
            tally.attempts.append(Attempt(sent, answered, api, str(status), ok=status < 500))
            if status < 300:
                tally.commands.append((answered, answered - first))
                answer: dict[str, Any] = response.json()
                return answer
            if status < 500 and status != 429:
                tally.refused.append(f"{path.rsplit('/', 1)[-1]} {status}")
                return None
            if status >= 500:
                tally.saw_server_error(response)
            wait = float(response.headers.get("Retry-After", "1"))
            api = (api + 1) % len(self._urls)
            tally.failed_over += 1
            await asyncio.sleep(min(wait, RETRY_AFTER_CAP_SECONDS))
        tally.refused.append(f"{path.rsplit('/', 1)[-1]} gave up")
        return None


async def lifecycle(
    stack: ReplicaStack, client: SpreadClient, think: tuple[float, float], seed: float
) -> str | None:
    """One consultation through its whole life: created with a message, the clinician's
    reply, the patient's reply, closed with a final message; thinking time between steps."""
    created = await client.command(
        "/v1/consultations", consultation_body(CLINICIAN), stack.tokens.service()
    )
    if created is None:
        return None
    case = f"/v1/consultations/{created['id']}"
    doctor = stack.tokens.clinician(CLINICIAN)
    steps: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (f"{case}/replies", {"body": "Use the cream."}, doctor),
        (f"{case}/patient-replies", {"body": "Thanks, better."}, stack.tokens.service()),
        (f"{case}/close", {"message": {"body": "Closing."}}, doctor),
    ]
    pauses = random.Random(seed)
    for path, body, headers in steps:
        await asyncio.sleep(pauses.uniform(*think))
        if await client.command(path, body, headers) is None:
            break
    return str(created["id"])


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
