"""Records real histories of every path for the replay test.

Two kinds of path: commands sent as signals, as backend services send them (SCENARIOS, on the
time-skipping test server, so timers fire), and commands sent through the HTTP API as
update-with-start and updates, as the portal and clinicians send them (API_SCENARIOS in
through_api.py, on the dev server).

`python -m tests.histories.record 1.1-what-changed` after a deliberate, patched workflow change
(docs/lifecycle.md): the new folder joins the older ones, which keep replaying, so
consultations started under every earlier version stay safe. Never re-record to make a
failing replay pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from dev.harness.databases import migrate
from dev.harness.ports import serving
from dev.harness.processes import BIN
from domain.models import (
    CloseCommand,
    CloseReason,
    ConsultationStart,
    ReplyCommand,
    Role,
    SubmitCommand,
    WithdrawCommand,
    consultation_workflow_id,
)
from infra.settings import Settings
from infra.temporal import data_converter
from store.database import create_engine, create_session_factory
from tests.histories.through_api import API_SCENARIOS, api_on_dev_server
from tests.integrations.receivers import FhirServer, worker_with
from tests.support import (
    CLINICIAN,
    content,
    new_start,
    register_search_attributes,
    seed_directory,
    start,
)

HERE = Path(__file__).parent
# A key for synthetic recorded histories only; it protects nothing real.
HISTORY_KEYS = "histories:GrtIFvQsM/O6wunV/o3xhHLEmFvc9DUc6ir1pyt02OQ="
HISTORY_CONVERTER = data_converter(Settings(econsult_encryption_keys=HISTORY_KEYS))

Scenario = Callable[[WorkflowEnvironment, Client, str], Awaitable[WorkflowHandle[Any, Any]]]


def clinician(body: str = "Answer.", **kwargs: Any) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content(body), **kwargs
    )


def patient(case: ConsultationStart, body: str = "Follow-up.") -> ReplyCommand:
    return ReplyCommand(author_role=Role.PATIENT, author_id=case.patient.id, message=content(body))


async def full_thread(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    case = new_start()
    handle = await start(client, queue, case)
    await env.sleep(timedelta(hours=2))
    await handle.signal("reply", clinician())
    await env.sleep(timedelta(days=1))
    await handle.signal("reply", patient(case))
    await env.sleep(timedelta(hours=3))
    await handle.signal("close", CloseCommand(clinician_id=CLINICIAN, message=content("Bye.")))
    return handle


async def draft_submitted_then_withdrawn(
    env: WorkflowEnvironment, client: Client, queue: str
) -> Any:
    case = new_start(message=None)
    handle = await start(client, queue, case)
    await env.sleep(timedelta(hours=1))
    await handle.signal("submit", SubmitCommand(message=content()))
    await env.sleep(timedelta(hours=1))
    await handle.signal("withdraw", WithdrawCommand(patient_id=case.patient.id))
    return handle


async def draft_expired(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    return await start(client, queue, new_start(message=None))


async def overdue_then_inactive(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    handle = await start(client, queue, new_start())
    await env.sleep(timedelta(days=12))
    await handle.signal("reply", clinician(close=False, billable=False))
    return handle


async def refused_signals(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    case = new_start()
    handle = await start(client, queue, case)
    await env.sleep(timedelta(minutes=5))
    await handle.signal("reply", patient(case))  # refused: awaiting the clinician
    await handle.signal("close", CloseCommand(clinician_id="not-the-clinician"))  # refused
    await env.sleep(timedelta(minutes=5))
    await handle.signal("close", CloseCommand(clinician_id=CLINICIAN))
    return handle


async def long_thread(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    case = new_start(messages_per_run=2)
    handle = await start(client, queue, case)
    for _ in range(3):
        await env.sleep(timedelta(hours=1))
        await handle.signal("reply", clinician())
        await env.sleep(timedelta(hours=1))
        await handle.signal("reply", patient(case))
    await env.sleep(timedelta(hours=1))
    await handle.signal("close", CloseCommand(clinician_id=CLINICIAN))
    return handle


async def question_not_billable_then_declined(
    env: WorkflowEnvironment, client: Client, queue: str
) -> Any:
    case = new_start()
    handle = await start(client, queue, case)
    await env.sleep(timedelta(hours=1))
    await handle.signal("reply", clinician("Which arm?", billable=False))
    await env.sleep(timedelta(hours=1))
    await handle.signal("reply", patient(case))
    await env.sleep(timedelta(hours=1))
    await handle.signal("close", CloseCommand(clinician_id=CLINICIAN, reason=CloseReason.DECLINED))
    return handle


async def copayment_refused(env: WorkflowEnvironment, client: Client, queue: str) -> Any:
    return await start(client, queue, new_start(copayment_accepted=False))


SCENARIOS: dict[str, Scenario] = {
    "full_thread": full_thread,
    "draft_submitted_then_withdrawn": draft_submitted_then_withdrawn,
    "draft_expired": draft_expired,
    "overdue_then_inactive": overdue_then_inactive,
    "refused_signals": refused_signals,
    "long_thread": long_thread,
    "copayment_refused": copayment_refused,
    "question_not_billable_then_declined": question_not_billable_then_declined,
}


REFUSED_BY_THE_RECORD_SYSTEM = "refused_signals"


def fresh_database() -> str:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'record.db'}"
    migrate(url)
    return url


async def record(folder: Path) -> None:
    """Every signal path, then every path through the API, into one folder."""
    await record_signals(folder)
    await record_through_api(folder)


async def record_signals(folder: Path) -> None:
    url = fresh_database()
    await seed_directory(create_session_factory(create_engine(url)))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=HISTORY_CONVERTER,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    try:
        await register_search_attributes(env)
        # With a record system configured, so the journal forwarding is recorded too.
        fhir = FhirServer()
        async with (
            serving(fhir.app(), 0) as fhir_url,
            worker_with(env.client, url, **fhir.settings(fhir_url)) as queue,
        ):
            for name, scenario in SCENARIOS.items():
                # One path's record system refuses its entries, so the practice's notice of a
                # refused entry is recorded too (from 1.3 on).
                fhir.refuse_with = 422 if name == REFUSED_BY_THE_RECORD_SYSTEM else None
                handle = await scenario(env, env.client, queue)
                with contextlib.suppress(WorkflowFailureError):  # a refused start is a path too
                    await handle.result()
                await write_runs(env.client, handle, folder / name)
    finally:
        await env.shutdown()


async def record_through_api(folder: Path) -> None:
    async with api_on_dev_server(fresh_database(), HISTORY_CONVERTER, BIN) as api:
        for name, scenario in API_SCENARIOS.items():
            case = await scenario(api)
            handle = api.client.get_workflow_handle(consultation_workflow_id(case))
            await handle.result()
            # No API scenario continues as new: the run described is the first and only one.
            run_id = (await handle.describe()).run_id
            first = api.client.get_workflow_handle(handle.id, first_execution_run_id=run_id)
            await write_runs(api.client, first, folder / name)


async def write_runs(client: Client, handle: WorkflowHandle[Any, Any], stem: Path) -> None:
    """Every run of the workflow (continue-as-new makes several), one file each."""
    run_id: str | None = handle.first_execution_run_id
    index = 0
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        stem.parent.mkdir(exist_ok=True)
        stem.with_name(f"{stem.name}.{index}.json").write_text(history.to_json())
        last = history.events[-1]
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        index += 1
        print(f"recorded {stem.name}.{index - 1}")


if __name__ == "__main__":
    asyncio.run(record(HERE / sys.argv[1]))
