"""`python -m infra.reconcile`: after the case store is restored from a backup, write back
what the consultations' workflows did since.

For each consultation Temporal lists (running, or closed since `--since`), the `state` query
says how far the workflow is (its revision); where the case row is behind (or gone), the
workflow's history is replayed and each case-store write it made (case row, messages, journal
entries, the charge) is written again, each by its own key, so a second run changes nothing.
What history never held, the bytes of an attachment uploaded after the backup, is listed,
and the attachment is kept as missing so the consultation shows it so.

Settings as the worker's (TEMPORAL_ADDRESS and its TLS settings, DATABASE_URL,
ECONSULT_ENCRYPTION_KEYS, ECONSULT_TASK_QUEUE: the consultations looked at are those of this task
queue); the `state` query needs a worker polling it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecution, WorkflowHistory

from domain.effects import CaseEvent, MessageToStore, SettleCopayment
from domain.events import Committed, Event
from domain.models import WORKFLOW_ID_PREFIX, ConsultationRecord, CopaymentOutcome
from infra.database_access import check_case_store_tls
from infra.logs import redact_every_handler
from infra.replayed_writes import RecordedWrite, recorded_writes
from infra.settings import SettingRefused, Settings
from infra.startup import (
    check_common,
    connect_or_refuse,
    exit_at_once,
    refuse_to_start,
    settings_or_refuse,
)
from store.database import create_engine, create_session_factory
from store.restore import CaseRestore
from workflows.econsultation import EConsultation

PROCESS = "econsult-reconcile"
WORKFLOW_TYPE_QUERY = 'WorkflowType = "EConsultation"'

# Without a worker on the task queue a query waits this long, then the case counts as an error.
QUERY_TIMEOUT = timedelta(seconds=10)

log = logging.getLogger("econsult.reconcile")


@dataclass
class Summary:
    checked: int = 0
    rewritten: int = 0
    messages_restored: int = 0
    journal_entries_restored: int = 0
    # (consultation id, attachment id) of attachments whose content no history holds.
    attachments_missing: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        shown = [
            f"consultations checked: {self.checked}",
            f"consultations rewritten: {self.rewritten}",
            f"messages restored: {self.messages_restored}",
            f"journal entries restored: {self.journal_entries_restored}",
            f"attachments missing: {len(self.attachments_missing)}",
        ]
        shown += [
            f"  missing attachment {attachment} of consultation {case}"
            for case, attachment in self.attachments_missing
        ]
        shown.append(f"errors: {len(self.errors)}")
        shown += [f"  consultation {case}: {error}" for case, error in self.errors]
        return shown


def listing_query(task_queue: str, since: datetime | None) -> str:
    """This deployment's consultations (its task queue): running ones and those closed since
    `since`, or every one Temporal retains."""
    query = f'{WORKFLOW_TYPE_QUERY} AND TaskQueue = "{task_queue}"'
    if since is None:
        return query
    return f'{query} AND (ExecutionStatus = "Running" OR CloseTime >= "{since.isoformat()}")'


async def consultation_workflow_ids(
    client: Client, task_queue: str, since: datetime | None
) -> list[str]:
    listed = client.list_workflows(listing_query(task_queue, since))
    return sorted({execution.id async for execution in listed})


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a consultation (continued-as-new ones too), oldest first."""
    executions: list[WorkflowExecution] = [
        e async for e in client.list_workflows(f'WorkflowId = "{workflow_id}"')
    ]
    executions.sort(key=lambda e: e.start_time)
    return [
        await client.get_workflow_handle(workflow_id, run_id=e.run_id).fetch_history()
        for e in executions
    ]


class Reconciler:
    def __init__(
        self, client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str
    ) -> None:
        self._client = client
        self._store = CaseRestore(sessions)
        self._task_queue = task_queue

    async def run(self, since: datetime | None, *, every_case: bool = False) -> Summary:
        summary = Summary()
        listed = await consultation_workflow_ids(self._client, self._task_queue, since)
        for workflow_id in listed:
            consultation_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
            summary.checked += 1
            try:
                await self._reconcile(workflow_id, consultation_id, summary, every_case)
            except Exception as error:  # one case's failure must not stop the others
                log.exception("reconcile failed", extra={"consultation_id": consultation_id})
                summary.errors.append((consultation_id, f"{type(error).__name__}: {error}"))
        return summary

    async def _reconcile(
        self, workflow_id: str, consultation_id: str, summary: Summary, every_case: bool
    ) -> None:
        handle = self._client.get_workflow_handle(workflow_id)
        state = await handle.query(EConsultation.view, rpc_timeout=QUERY_TIMEOUT)
        stored = await self._store.revision(consultation_id)
        if not every_case and stored is not None and stored >= state.revision:
            return
        before = await self._store.counts(consultation_id)
        writes = await recorded_writes(
            await runs_of(self._client, workflow_id), self._client.data_converter
        )
        for write in writes:
            for attachment_id in await self._apply(write):
                summary.attachments_missing.append((consultation_id, attachment_id))
        after = await self._store.counts(consultation_id)
        if await self._store.revision(consultation_id) != stored:
            summary.rewritten += 1
        summary.messages_restored += after.messages - before.messages
        summary.journal_entries_restored += after.journal_entries - before.journal_entries

    async def _apply(self, write: RecordedWrite) -> list[str]:
        """One write as the worker made it; the ids of attachments found missing."""
        argument = write.argument
        if isinstance(argument, Event) and isinstance(write.result, Committed):
            if argument.settlement is not None and write.result.copayment is not None:
                # Priced by the commit: the case row shows what the charge row holds.
                argument.record.copayment = write.result.copayment
                missing = await self._store.save_event(argument)
                await self._store.charge(argument.settlement, write.result.copayment)
                return missing
            return await self._store.save_event(argument)
        if isinstance(argument, CaseEvent):
            return await self._store.save_event(argument)
        if isinstance(argument, ConsultationRecord):
            await self._store.save(argument)
        elif isinstance(argument, MessageToStore):
            return await self._store.add_message(argument)
        elif isinstance(argument, SettleCopayment) and isinstance(write.result, CopaymentOutcome):
            await self._store.charge(argument, write.result)
        # Reads (the decline text) write nothing.
        return []


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.reconcile",
        description="Write back into a restored case store what the consultations' workflows "
        "did since the backup.",
    )
    parser.add_argument(
        "--since",
        type=datetime.fromisoformat,
        default=None,
        help="also look at consultations closed since this time (ISO 8601, e.g. the backup's "
        "time minus a margin); running ones are always looked at. Default: every one Temporal "
        "still retains.",
    )
    parser.add_argument(
        "--every-case",
        action="store_true",
        help="replay every listed consultation, even one whose case row is as new as its "
        "workflow (a worker may have written a newer row over a gap before reconcile ran)",
    )
    return parser.parse_args(argv)


async def reconcile(
    settings: Settings, since: datetime | None, *, every_case: bool = False
) -> Summary:
    try:
        await check_case_store_tls(settings)
    except SettingRefused as error:
        raise refuse_to_start(PROCESS, error) from None
    client = await connect_or_refuse(PROCESS, settings)
    engine = create_engine(settings.database_url)
    try:
        reconciler = Reconciler(
            client, create_session_factory(engine), settings.econsult_task_queue
        )
        return await reconciler.run(since, every_case=every_case)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    options = arguments(argv)
    settings = settings_or_refuse(PROCESS)
    try:
        check_common(settings)
    except SettingRefused as error:
        raise refuse_to_start(PROCESS, error) from None
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    redact_every_handler()
    summary = asyncio.run(reconcile(settings, options.since, every_case=options.every_case))
    print("\n".join(summary.lines()))
    return 1 if summary.errors else 0


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as stopped:
        exit_at_once(stopped.code)
    exit_at_once(code)
