"""Fault run: consultations through the API while, in turn, the case store, the worker, the API
and Temporal go away mid-traffic; then every effect is counted against what was asked for.

`python -m bench.faults` (or `make faults`), about four minutes. Each consultation is driven
by a client that retries every command with its Idempotency-Key (on a connection error, a
timeout or a 5xx, waiting Retry-After), as an integration should. Faults, one after another:
the case store's database refuses connections for 40 s (PostgreSQL `ALLOW_CONNECTIONS
false`, open connections cut), the worker is killed (SIGKILL) and restarted, the API is
killed and restarted, the Temporal dev server (on a database file, so it keeps its state) is
killed and restarted. Afterwards each consultation must have exactly 4 messages, 5 journal
entries, 4 notifications and 1 charge; the figures go to stdout and bench/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.harness_run import bench_server, compile_bytecode, service_env
from bench.stack import BENCH_PATIENT, Tokens, api_env, consultation_body
from dev.harness.ports import free_port, wait_for_port
from dev.harness.processes import Processes, temporal_dev_server

RESULTS = Path(__file__).with_name("faults.json")
CLINICIAN = "9100001"
EXPECTED = {"messages": 4, "journal": 5, "notifications": 4, "charges": 1}
DATABASE_AWAY_SECONDS = 40.0
REQUEST_TIMEOUT_SECONDS = 15.0
GIVE_UP_AFTER_SECONDS = 600.0
SETTLE_WITHIN_SECONDS = 300.0


@dataclass
class Tally:
    """What the clients saw."""

    sent: int = 0
    retried: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def saw(self, what: str) -> None:
        self.answers[what] = self.answers.get(what, 0) + 1


@dataclass
class FaultStack:
    processes: Processes
    env: dict[str, str]
    temporal_port: int
    temporal_db: Path
    api_url: str
    database: str
    admin_url: str  # libpq URL of a role that may alter the database
    tokens: Tokens

    def start_temporal(self) -> None:
        address = f"127.0.0.1:{self.temporal_port}"
        self.processes.start(
            "temporal", temporal_dev_server(address, db_file=self.temporal_db), self.env
        )
        wait_for_port(self.temporal_port)

    def start_worker(self) -> None:
        self.processes.start("worker", [sys.executable, "worker.py"], self.env)

    def start_api(self) -> None:
        self.processes.start("api", [sys.executable, "-m", "api"], self.env)

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


async def seed_clinician(stack: FaultStack) -> None:
    """The directory entry, and the patient's relation to the clinician (no patient may write
    to a clinician they have none with), through the API once it answers."""
    seeds = [
        (
            f"/v1/clinicians/{CLINICIAN}",
            {
                "name": "Dr. Faults",
                "practice_id": "faults-practice",
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
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as http:
        for path, body in seeds:
            for _ in range(60):
                try:
                    response = await http.put(path, json=body, headers=stack.tokens.admin())
                    if response.status_code in (200, 201):
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1)
            else:
                raise RuntimeError(f"the API never accepted PUT {path}")


def log(started: float, line: str) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)


async def command(
    http: httpx.AsyncClient,
    tally: Tally,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> dict[str, Any] | None:
    """Send until answered: the same Idempotency-Key on every attempt."""
    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        tally.sent += 1
        if attempt > 1:
            tally.retried += 1
        try:
            response = await http.post(path, json=body, headers=headers)
        except httpx.HTTPError as error:
            tally.saw(type(error).__name__)
            await asyncio.sleep(1.0)
            continue
        tally.saw(str(response.status_code))
        if response.status_code < 300:
            answer: dict[str, Any] = response.json()
            return answer
        if response.status_code < 500 and response.status_code != 429:
            tally.refused.append(f"{path.rsplit('/', 1)[-1]} {response.status_code}")
            return None
        wait = float(response.headers.get("Retry-After", "1"))
        await asyncio.sleep(min(wait, 5.0))
    tally.refused.append(f"{path.rsplit('/', 1)[-1]} gave up")
    return None


async def consultation(
    stack: FaultStack, http: httpx.AsyncClient, tally: Tally, delay: float
) -> str | None:
    """One patient and their clinician through a whole lifecycle, with thinking time."""
    await asyncio.sleep(delay)
    think = random.Random(delay)
    created = await command(
        http, tally, "/v1/consultations", consultation_body(CLINICIAN), stack.tokens.service()
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
    for path, body, headers in steps:
        await asyncio.sleep(think.uniform(2.0, 8.0))
        if await command(http, tally, path, body, headers) is None:
            break
    return str(created["id"])


async def faults(stack: FaultStack, started: float) -> list[str]:
    """The faults, one after another, each while consultations are in flight."""
    done: list[str] = []
    await asyncio.sleep(10)
    log(started, f"case store: refusing connections for {DATABASE_AWAY_SECONDS:.0f} s")
    stack.allow_connections(False)
    await asyncio.sleep(DATABASE_AWAY_SECONDS)
    stack.allow_connections(True)
    done.append("case store away 40 s")
    log(started, "case store: back")
    # Then each process in turn, killed hard and started again after a pause.
    for name, label, restart, down_seconds in (
        ("worker", "worker", stack.start_worker, 5),
        ("api", "API", stack.start_api, 3),
        ("temporal", "Temporal", stack.start_temporal, 3),
    ):
        await asyncio.sleep(15)
        log(started, f"{label}: SIGKILL")
        stack.processes.kill(name)
        await asyncio.sleep(down_seconds)
        restart()
        done.append(f"{label} killed, restarted after {down_seconds} s")
        log(started, f"{label}: restarted")
    return done


def effects(database_url: str, consultation_ids: list[str]) -> dict[str, dict[str, int]]:
    """Rows per consultation in each effect table."""
    tables = {
        "messages": "messages",
        "journal": "journal_entries",
        "notifications": "notifications",
        "charges": "charges",
    }
    found = {cid: dict.fromkeys(tables, 0) for cid in consultation_ids}
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        for effect, table in tables.items():
            rows = db.execute(
                f"SELECT consultation_id, count(*) FROM {table} "  # noqa: S608 - fixed names
                "WHERE consultation_id = ANY(%s) GROUP BY consultation_id",
                (consultation_ids,),
            ).fetchall()
            for cid, count in rows:
                found[cid][effect] = int(count)
    return found


def consultations_of_patients(database_url: str) -> int:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        row = db.execute("SELECT count(*) FROM consultations").fetchone()
    return int(row[0]) if row else 0


async def settled(database_url: str, ids: list[str]) -> dict[str, dict[str, int]]:
    """Effects once all are in, or once nothing changed for a minute (retries back off)."""
    deadline = time.monotonic() + SETTLE_WITHIN_SECONDS
    last, unchanged_since = effects(database_url, ids), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - unchanged_since < 60:
        if all(found == EXPECTED for found in last.values()):
            break
        await asyncio.sleep(2)
        current = effects(database_url, ids)
        if current != last:
            last, unchanged_since = current, time.monotonic()
    return last


async def run(consultations: int, spread_seconds: float) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    api_port = free_port()
    with (
        bench_server() as server,
        server.fresh_database("econsult_bench") as url,
        Processes() as processes,
    ):
        temporal_port = free_port()
        env = service_env(temporal_port, url, **api_env(api_port, secret), LOG_LEVEL="WARNING")
        stack = FaultStack(
            processes=processes,
            env=env,
            temporal_port=temporal_port,
            temporal_db=processes.logs / "temporal.db",
            api_url=f"http://127.0.0.1:{api_port}",
            database=str(make_url(url).database),
            admin_url=server.admin_url,
            tokens=Tokens(secret),
        )
        stack.start_temporal()
        stack.start_worker()
        stack.start_api()
        wait_for_port(api_port)
        await asyncio.sleep(2)
        await seed_clinician(stack)
        started = time.monotonic()
        tally = Tally()
        log(started, f"{consultations} consultations over {spread_seconds:.0f} s, faults in turn")
        async with httpx.AsyncClient(
            base_url=stack.api_url, timeout=REQUEST_TIMEOUT_SECONDS
        ) as http:
            injected = asyncio.create_task(faults(stack, started))
            ids = await asyncio.gather(
                *(
                    consultation(stack, http, tally, n * spread_seconds / consultations)
                    for n in range(consultations)
                )
            )
            done = await injected
        log(started, "traffic done; waiting for the effects to settle")
        created = [cid for cid in ids if cid]
        found = await settled(url, created)
        lost = {e: sum(max(0, n - f[e]) for f in found.values()) for e, n in EXPECTED.items()}
        doubled = {e: sum(max(0, f[e] - n) for f in found.values()) for e, n in EXPECTED.items()}
        results = {
            "consultations_asked": consultations,
            "consultations_stored": consultations_of_patients(url),
            "consultations_answered": len(created),
            "faults": done,
            "expected_per_consultation": EXPECTED,
            "lost": lost,
            "duplicated": doubled,
            "requests_sent": tally.sent,
            "retries": tally.retried,
            "answers_seen": tally.answers,
            "refused": tally.refused,
            "seconds": round(time.monotonic() - started, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consultations", type=int, default=60)
    parser.add_argument(
        "--spread", type=float, default=120.0, help="seconds over which to start them"
    )
    arguments = parser.parse_args()
    compile_bytecode()
    results = asyncio.run(run(arguments.consultations, arguments.spread))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "answers_seen"}, indent=2))
    print("answers seen:", results["answers_seen"])
    clean = not any(results["lost"].values()) and not any(results["duplicated"].values())
    print("0 lost, 0 duplicated" if clean else "EFFECTS LOST OR DUPLICATED")
    sys.exit(
        0 if clean and results["consultations_stored"] == results["consultations_asked"] else 1
    )


if __name__ == "__main__":
    main()
