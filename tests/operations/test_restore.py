"""A case store restored from a backup loses nothing Temporal knows: `python -m infra.reconcile`
writes back the rows, messages, journal entries and charges of what happened after the backup,
lists the attachment whose bytes no history holds (and the consultation shows it missing), and
changes nothing when run again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from dev.harness.databases import PostgresServer, libpq_url, sqlalchemy_url
from dev.harness.processes import ROOT
from store.tables import Attachment, Charge, Consultation, JournalEntry, Message
from tests.api.support import (
    PDF,
    Party,
    api_over_http,
    create,
    eventually,
    seed_clinicians,
    settled_copayment,
    upload,
)
from tests.support import temporal_address

# The drill runs pg_dump and pg_restore: CI runs it on the embedded server too.
pytestmark = pytest.mark.embedded_postgres

# Far longer than reconcile needs for a handful of consultations.
RECONCILE_LIMIT_SECONDS = 180
# Columns the store sets at the time of writing: a rewrite has its own time there.
WRITTEN_AT = {"written_at", "recorded_at", "id"}


@contextmanager
def empty_database(server: PostgresServer) -> Iterator[str]:
    """A database with nothing in it, for a restore (its libpq URL), dropped afterwards."""
    name = f"econsult_restored_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.database_url(name)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_dump(server: PostgresServer, url: str, to: Path) -> None:
    dump = server.client_binary("pg_dump")
    subprocess.run([dump, "--format=custom", f"--file={to}", libpq_url(url)], check=True)


def pg_restore(server: PostgresServer, dump: Path, url: str) -> None:
    restore = server.client_binary("pg_restore")
    subprocess.run([restore, "--no-owner", f"--dbname={url}", str(dump)], check=True)


async def store_of(
    sessions: async_sessionmaker[AsyncSession], cases: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """What the store holds for these consultations, row by row, in a stable order."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with sessions() as session:
        for name, model, column, order in (
            ("consultations", Consultation, Consultation.id, Consultation.id),
            ("messages", Message, Message.consultation_id, Message.id),
            ("journal", JournalEntry, JournalEntry.consultation_id, JournalEntry.entry_key),
            ("charges", Charge, Charge.consultation_id, Charge.consultation_id),
        ):
            rows = (
                await session.scalars(select(model).where(column.in_(cases)).order_by(order))
            ).all()
            found[name] = [
                {
                    column.name: getattr(row, column.name)
                    for column in model.__table__.columns
                    if column.name not in WRITTEN_AT
                }
                for row in rows
            ]
    return found


async def reconcile(env: dict[str, str]) -> tuple[int, str]:
    """`python -m infra.reconcile` as an operator runs it (the worker keeps serving meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.reconcile",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), RECONCILE_LIMIT_SECONDS)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def reply(
    http: httpx.AsyncClient, case: str, path: str, headers: dict[str, str], **body: Any
) -> None:
    body.setdefault("attachment_ids", [])
    answer = await http.post(f"/v1/consultations/{case}/{path}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def test_reconcile_brings_a_restored_case_store_back_to_what_temporal_knows(
    dev_env: WorkflowEnvironment, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    client = dev_env.client
    task_queue = f"econsultation-restore-{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "case-store.dump"
    with (
        postgres_server.fresh_database("econsult_live") as live_url,
        empty_database(postgres_server) as restored,
    ):
        async with api_over_http(client, live_url, task_queue=task_queue) as live:
            party = live.party()
            await seed_clinicians(live.http, party)
            http = live.http
            # Before the backup: one case waits for the clinician, one for the patient.
            waiting = (await create(http, party, message="I have a rash."))["id"]
            answered = (await create(http, party, message="My knee hurts."))["id"]
            await reply(http, answered, "replies", party.doctor, body="Rest it for a week.")
            await settled_copayment(http, answered, party.doctor)

            pg_dump(postgres_server, live_url, dump)

            # After it: replies, a patient's attachment, a close, and a case of its own.
            await reply(http, waiting, "replies", party.doctor, body="Use the cream.")
            late = (await upload(http, party.service, PDF, "knee.pdf")).json()["id"]
            await reply(
                http,
                answered,
                "patient-replies",
                party.service,
                body="Still sore, see the letter.",
                attachment_ids=[late],
            )
            await reply(
                http, answered, "replies", party.doctor, body="Come in on Monday.", close=True
            )
            newer = (await create(http, party, message="A cough since Sunday."))["id"]
            cases = [waiting, answered, newer]
            await settled_copayment(http, waiting, party.doctor)
            never_lost = await store_of(live.sessions, cases)

        pg_restore(postgres_server, dump, restored)
        async with api_over_http(
            client, sqlalchemy_url(restored), task_queue=task_queue
        ) as restored_api:
            before = await store_of(restored_api.sessions, cases)
            assert before != never_lost, "the backup misses what came after it"
            env = {
                **os.environ,
                "TEMPORAL_ADDRESS": temporal_address(dev_env),
                "DATABASE_URL": sqlalchemy_url(restored),
                "ECONSULT_TASK_QUEUE": task_queue,
            }

            first_code, first = await reconcile(env)
            after_first = await store_of(restored_api.sessions, cases)
            second_code, second = await reconcile(env)
            after_second = await store_of(restored_api.sessions, cases)

            shown = (
                await restored_api.http.get(f"/v1/consultations/{answered}", headers=party.doctor)
            ).json()
            download = await restored_api.http.get(f"/v1/attachments/{late}", headers=party.doctor)
            async with restored_api.sessions() as session:
                kept = await session.get(Attachment, late)

    assert first_code == 0, first
    assert after_first == never_lost
    assert f"missing attachment {late} of consultation {answered}" in first
    assert "consultations rewritten: 3" in first, first
    assert "messages restored: 4" in first, first
    # The reply, the patient's message, the closing message and the close; the new case's.
    assert "journal entries restored: 5" in first, first
    assert "attachments missing: 1" in first, first

    assert second_code == 0, second
    assert after_second == after_first
    for nothing in ("rewritten", "messages restored", "journal entries restored"):
        assert f"{nothing}: 0" in second, second
    assert "attachments missing: 0" in second, second

    [with_attachment] = [m for m in shown["messages"] if m["attachments"]]
    [missing] = with_attachment["attachments"]
    assert missing["id"] == late
    assert missing["missing"] is True
    assert download.status_code == 410
    assert kept is not None and kept.missing


async def test_reconcile_finds_nothing_to_do_on_a_store_that_was_never_lost(
    dev_env: WorkflowEnvironment, postgres_server: PostgresServer
) -> None:
    client = dev_env.client
    task_queue = f"econsultation-restore-{uuid.uuid4().hex[:8]}"
    with postgres_server.fresh_database("econsult_kept") as url:
        async with api_over_http(client, url, task_queue=task_queue) as api:
            party: Party = api.party()
            await seed_clinicians(api.http, party)
            case = (await create(api.http, party, message="I have a rash."))["id"]
            kept = await eventually(
                lambda: store_of(api.sessions, [case]), lambda found: bool(found["journal"])
            )
            code, said = await reconcile(
                {
                    **os.environ,
                    "TEMPORAL_ADDRESS": temporal_address(dev_env),
                    "DATABASE_URL": url,
                    "ECONSULT_TASK_QUEUE": task_queue,
                }
            )
            assert await store_of(api.sessions, [case]) == kept

    assert code == 0, said
    assert "consultations rewritten: 0" in said
    assert "messages restored: 0" in said
