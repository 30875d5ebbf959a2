"""deploy/postgresql/postgresql.conf, the case store's server settings (connections, TLS, WAL
archiving for point-in-time recovery): every line names a setting PostgreSQL has, with a
value it accepts, as a real server reports them (pg_settings)."""

from __future__ import annotations

import re

import psycopg

from dev.harness.databases import PostgresServer
from tests.operations.compose_file import ROOT

CONF = ROOT / "deploy" / "postgresql" / "postgresql.conf"


def settings(text: str) -> dict[str, str]:
    """name -> value of every active line, quotes removed (commented lines are examples)."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)\s*=\s*(.+?)\s*$", line)
        if match:
            found[match.group(1)] = match.group(2).strip("'")
    return found


def test_every_setting_exists_with_a_value_postgresql_accepts(
    postgres_server: PostgresServer,
) -> None:
    wanted = settings(CONF.read_text())
    assert {"max_connections", "wal_level", "archive_mode", "archive_command"} <= set(wanted)
    with psycopg.connect(postgres_server.admin_url) as connection:
        rows = connection.execute(
            "SELECT name, vartype, enumvals FROM pg_settings WHERE name = ANY(%s)",
            [list(wanted)],
        ).fetchall()
    known = {name: (kind, values) for name, kind, values in rows}
    assert set(wanted) - set(known) == set(), "settings PostgreSQL does not have"
    for name, value in wanted.items():
        kind, values = known[name]
        if kind == "enum":
            assert value in values, f"{name} = {value}: not one of {values}"
        elif kind == "bool":
            assert value in {"on", "off", "true", "false"}, f"{name} = {value}"
        elif kind == "integer":
            assert value.isdigit(), f"{name} = {value}"


def test_wal_is_archived_at_least_every_minute() -> None:
    wanted = settings(CONF.read_text())
    assert wanted["wal_level"] in {"replica", "logical"} and wanted["archive_mode"] == "on"
    assert 0 < int(wanted["archive_timeout"]) <= 60, "the guide's RPO is one minute"
    assert "%p" in wanted["archive_command"] and "%f" in wanted["archive_command"]
