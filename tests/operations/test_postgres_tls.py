"""TLS to PostgreSQL: libpq's parameters in DATABASE_URL (`sslmode=verify-full`, `sslrootcert`,
`sslcert`, `sslkey`) work for migrations, the API, the worker and reconcile, against a cluster
that takes TLS with a client certificate only (tests/operations/tls_postgres.py); a CA that
did not sign the server's certificate stops each with one line naming DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from dev.harness.processes import ROOT, Processes
from tests.api.support import api_over_http, create, message, seed_clinicians
from tests.operations.certificates import Authority, Pair
from tests.operations.test_startup_checks import API, WORKER, environment, refused
from tests.operations.tls_postgres import ROLE, TlsCluster, tls_cluster
from tests.support import WorkerProcess, temporal_address, worker_env

ALEMBIC = [str(Path(sys.executable).parent / "alembic"), "upgrade", "head"]
RECONCILE = [sys.executable, "-m", "infra.reconcile"]
# Far longer than a migration or a reconcile of one consultation needs.
PROCESS_LIMIT_SECONDS = 120


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("postgres-ca"))


@pytest.fixture(scope="module")
def cluster(authority: Authority) -> Iterator[TlsCluster]:
    with tls_cluster(authority) as running:
        yield running


@pytest.fixture(scope="module")
def client_certificate(authority: Authority) -> Pair:
    """The service's certificate: its name is the role it logs in as (`cert` authentication)."""
    return authority.client("econsult-db-client", ROLE)


@pytest.fixture(scope="module")
def tls_url(cluster: TlsCluster, client_certificate: Pair) -> str:
    """DATABASE_URL over verified TLS, migrated to head by `alembic upgrade head`."""
    url = cluster.url(client_certificate)
    done = subprocess.run(
        ALEMBIC,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=PROCESS_LIMIT_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    return url


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=PROCESS_LIMIT_SECONDS
    )


async def test_the_api_the_worker_and_reconcile_work_over_verified_tls(
    dev_env: WorkflowEnvironment, tls_url: str
) -> None:
    async with api_over_http(dev_env.client, tls_url) as api:
        party = api.party()
        await seed_clinicians(api.http, party)
        case = await create(api.http, party, message="A rash for two weeks.")
        closed = await message(
            api.http, f"{case['id']}/replies", party.doctor, "Use the cream.", close=True
        )
        # In a thread: the worker answering reconcile's queries runs in this event loop.
        reconciled = await asyncio.to_thread(
            run,
            RECONCILE,
            {
                **os.environ,
                "DATABASE_URL": tls_url,
                "TEMPORAL_ADDRESS": temporal_address(dev_env),
                "ECONSULT_TASK_QUEUE": api.settings.econsult_task_queue,
            },
        )

    assert closed["status"] == "closed"
    assert reconciled.returncode == 0, reconciled.stderr
    assert "consultations checked: 1" in reconciled.stdout
    assert "errors: 0" in reconciled.stdout


async def test_a_worker_process_starts_over_verified_tls(
    dev_env: WorkflowEnvironment, tls_url: str, tmp_path: Path
) -> None:
    queue = f"econsultation-pg-tls-{uuid.uuid4().hex[:8]}"
    with Processes(tmp_path) as processes:
        worker = WorkerProcess(processes, worker_env(temporal_address(dev_env), tls_url, queue))
        worker.start()
        await worker.ready()
        assert await worker.terminate() == 0


@pytest.fixture(scope="module")
def wrong_ca_url(
    cluster: TlsCluster, client_certificate: Pair, tmp_path_factory: pytest.TempPathFactory
) -> str:
    stranger = Authority.create(tmp_path_factory.mktemp("stranger-ca"), "stranger-ca")
    return cluster.url(client_certificate, ca=stranger.ca_file)


@pytest.mark.parametrize(
    "command", [ALEMBIC, API, WORKER, RECONCILE], ids=["migrations", "api", "worker", "reconcile"]
)
def test_a_wrong_ca_stops_the_process_with_one_line_naming_database_url(
    command: list[str], wrong_ca_url: str, tls_url: str, tmp_path: Path
) -> None:
    line = refused(command, environment(tmp_path, DATABASE_URL=wrong_ca_url))

    assert "refuses to" in line
    assert "DATABASE_URL" in line
    assert "certificate" in line


def test_a_tls_file_the_url_names_that_cannot_be_read_stops_the_process(
    cluster: TlsCluster, client_certificate: Pair, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"

    line = refused(
        WORKER, environment(tmp_path, DATABASE_URL=cluster.url(client_certificate, ca=missing))
    )

    assert "DATABASE_URL" in line
    assert f"sslrootcert {missing}" in line
