"""Round trips per lifecycle: deterministic counts, no timing.

One consultation through the API in this process (create with a message, a clinician reply,
a close), its worker in this process too, on the Temporal dev server and a SQLite case store:
the history's events, workflow tasks, activities and local activities, and the SQL statements
each side sent (told apart by their engine). `python -m bench.round_trips` prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from bench.harness_run import TOKEN_LIFETIME_SECONDS
from bench.lifecycle import CLINICIAN, ApiLifecycle
from bench.stack import BENCH_PATIENT, Tokens
from dev.harness.databases import sqlite_database
from dev.harness.ports import serving
from dev.harness.processes import BIN
from domain.models import consultation_workflow_id
from infra.codec import new_key_setting
from infra.settings import Settings
from infra.temporal import data_converter
from store.database import create_engine, create_session_factory
from worker import build_worker
from workflows import search_attributes

LOCAL_ACTIVITY_MARKER = "core_local_activity"
LIFECYCLES = 3


class StatementCounter:
    """Statements sent per engine: the API's engine, and every other (the worker's)."""

    def __init__(self, api_engine: Engine) -> None:
        self.api = api_engine
        self.counts: Counter[str] = Counter()
        # By side and the statement's first words: what a lifecycle spends its round trips on.
        self.statements: Counter[str] = Counter()
        event.listen(Engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        side = "api" if conn.engine is self.api else "worker"
        self.counts[side] += 1
        self.statements[f"{side}: {' '.join(statement.split()[:4])[:60]}"] += 1

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._count)


def history_counts(events: list[Any]) -> dict[str, Any]:
    kinds = Counter(e.event_type for e in events)
    markers = sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )
    return {
        "history_events": len(events),
        "workflow_tasks": kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        "activities": kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        "local_activities": markers,
        "timers": kinds[EventType.EVENT_TYPE_TIMER_STARTED],
        "events_by_type": {
            EventType.Name(kind).removeprefix("EVENT_TYPE_").lower(): n
            for kind, n in sorted(kinds.items())
        },
    }


async def measure(folder: Path) -> dict[str, Any]:
    secret = secrets.token_hex(32)
    settings_env: dict[str, Any] = {
        "econsult_encryption_keys": new_key_setting("bench-key"),
        "auth_hs256_secret": secret,
        "api_write_burst": 100_000,
        "api_patient_write_burst": 100_000,
        # The bench's tokens last as long as a run, longer than the API's default cap.
        "auth_max_token_lifetime": TOKEN_LIFETIME_SECONDS,
    }
    url = sqlite_database(folder)
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(Settings(**settings_env)),
        dev_server_existing_path=shutil.which("temporal", path=str(BIN)),
        dev_server_extra_args=search_attributes.dev_server_flags(),
        ui=False,
    )
    engine = create_engine(url)
    counter = StatementCounter(engine.sync_engine)
    tokens = Tokens(secret)
    try:
        settings = Settings(database_url=url, econsult_task_queue="round-trips", **settings_env)
        app = create_app(settings, client=env.client, sessions=create_session_factory(engine))
        async with (
            build_worker(env.client, settings),
            serving(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=60) as http,
        ):
            admin = tokens.admin()
            await http.put(
                f"/v1/clinicians/{CLINICIAN}",
                json={
                    "name": "Dr. Bench",
                    "practice_id": "bench-practice",
                    "accepts_econsultations": True,
                    "reply_within_working_days": 5,
                    "substitute": None,
                },
                headers=admin,
            )
            await http.put(
                f"/v1/patients/{BENCH_PATIENT}/relations/{CLINICIAN}",
                json={"kind": "regular_gp", "valid_from": "2000-01-01", "valid_to": None},
                headers=admin,
            )
            lifecycle = ApiLifecycle.over(http, env.client, tokens)
            await lifecycle()  # warm-up: caches and first reads are not per lifecycle
            counter.counts.clear()
            counter.statements.clear()
            ids = [await lifecycle() for _ in range(LIFECYCLES)]
            # Background deliveries may still write after the workflow completes: settle.
            await asyncio.sleep(2)
            statements = dict(counter.counts)
            kinds = {k: n / LIFECYCLES for k, n in sorted(counter.statements.items())}
            history = await env.client.get_workflow_handle(
                consultation_workflow_id(ids[-1])
            ).fetch_history()
    finally:
        counter.close()
        await engine.dispose()
        await env.shutdown()
    return {
        "lifecycle": "create with a message, a clinician reply, close (through the API)",
        **history_counts(list(history.events)),
        "sql_statements": {side: n / LIFECYCLES for side, n in sorted(statements.items())},
        "sql_statements_by_kind": kinds,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(measure(Path(folder))), indent=2))


if __name__ == "__main__":
    main()
