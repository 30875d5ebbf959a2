"""A throw-away PostgreSQL cluster that speaks TLS only, on a free TCP port: the machine's
PostgreSQL binaries (initdb, pg_ctl), `ssl=on` with the test's certificates, and `hostssl ...
cert`, so a client gets in only with a certificate of the test's CA whose name is its role.

PostgreSQL refuses to run as root: run as root, the cluster runs as the `postgres` system user
(runuser), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from dev.harness.ports import LOOPBACK, free_port
from tests.operations.certificates import Authority, Pair

ROLE = "econsult"
SERVER_USER = "postgres"


def postgres_bin() -> Path | None:
    """The newest of the machine's PostgreSQL installations (Debian's layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


@dataclass(frozen=True)
class TlsCluster:
    port: int
    ca: Path

    def url(self, client: Pair, ca: Path | None = None) -> str:
        """DATABASE_URL with libpq's TLS parameters, as an operator writes it."""
        return (
            f"postgresql+psycopg://{ROLE}@{LOOPBACK}:{self.port}/{ROLE}"
            f"?sslmode=verify-full&sslrootcert={ca or self.ca}"
            f"&sslcert={client.cert}&sslkey={client.key}"
        )


def _run(command: list[str], folder: Path) -> None:
    """A PostgreSQL tool, as the server's user when the tests run as root."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    subprocess.run(command, check=True, capture_output=True, cwd=folder)


def _hand_over(path: Path) -> None:
    """Let the server's user own `path` (when the tests run as root)."""
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


@contextmanager
def tls_cluster(authority: Authority) -> Iterator[TlsCluster]:
    """The cluster, up with one role and its database, until the block ends."""
    binaries = postgres_bin()
    assert binaries is not None, "the machine's PostgreSQL (initdb, pg_ctl) is not installed"
    folder = Path(tempfile.mkdtemp(prefix="econsult-pg-tls-"))
    _hand_over(folder)
    data = folder / "data"
    server = authority.server("postgres-server")
    for path in (server.cert, server.key):
        shutil.copy(path, folder / path.name)
        _hand_over(folder / path.name)
    port = free_port()
    _run([str(binaries / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust"], folder)
    # The socket for setting up as the superuser; over TCP, TLS with a client certificate only.
    (data / "pg_hba.conf").write_text(f"local all all trust\nhostssl all all {LOOPBACK}/32 cert\n")
    options = (
        f"-c listen_addresses={LOOPBACK} -p {port} -k {folder} -c ssl=on "
        f"-c ssl_cert_file={folder / server.cert.name} -c ssl_key_file={folder / server.key.name} "
        f"-c ssl_ca_file={folder / 'ca.pem'} -c fsync=off"
    )
    shutil.copy(authority.ca_file, folder / "ca.pem")
    _hand_over(folder / "ca.pem")
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
    _run([*pg_ctl, "-w", "-o", options, "start"], folder)
    try:
        with psycopg.connect(
            host=str(folder), port=port, user=SERVER_USER, dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f"CREATE ROLE {ROLE} LOGIN")
            admin.execute(f"CREATE DATABASE {ROLE} OWNER {ROLE}")
        yield TlsCluster(port=port, ca=authority.ca_file)
    finally:
        _run([*pg_ctl, "-m", "immediate", "stop"], folder)
        shutil.rmtree(folder, ignore_errors=True)
