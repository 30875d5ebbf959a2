"""Runs an EConsultation worker: `python worker.py`, settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.adapters import FrikortRegister, NotificationSender
from activities.billing import BillingActivities
from activities.case import CaseActivities
from activities.endpoints import PracticeEndpoints
from activities.fhir import record_system_activities
from activities.notifications import NotificationActivities
from activities.practices import PracticeActivities
from activities.redelivery import RedeliveryActivities
from activities.v1 import ActivitiesV1
from activities.webhooks import notification_sender
from domain.copayment import CopaymentTable
from infra.activity_metrics import ActivityMetricsInterceptor
from infra.database_access import check_case_store_tls
from infra.logs import configure_logging
from infra.outbound import OutboundPolicy, Resolver, system_resolver
from infra.secrets import secrets_directory
from infra.settings import SettingRefused, Settings
from infra.startup import (
    check_common,
    connect_or_refuse,
    exit_at_once,
    refuse_to_start,
    sandbox_or_refuse,
    settings_or_refuse,
    tariffs_or_refuse,
    worker_runtime,
)
from infra.tariffs import load_tariffs
from infra.telemetry import configure_tracing
from store.attachments import Attachments
from store.case_writes import Consultations
from store.charges import Charges
from store.database import create_engine, create_session_factory
from store.directory import Directory
from store.frikort import FrikortTable
from store.journal import JournalTable
from store.outbox import Outbox
from store.practices import Practices
from store.redeliveries import Redeliveries
from workflows.econsultation import EConsultation
from workflows.redelivery import Redelivery

log = logging.getLogger("econsult.worker")

# Running activities get this long to finish after SIGTERM before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
# Workflows run outside the SDK's sandbox: it re-checks imports and compiles code on every
# activation and for every payload, about a quarter of the worker's CPU per consultation.
# Its guard against non-deterministic calls is kept where it catches mistakes before they
# ship: every recorded history replays in the sandbox in `make test`, besides this runner.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    settings: Settings,
    *,
    consultations: Consultations | None = None,
    sender: NotificationSender | None = None,
    frikort_register: FrikortRegister | None = None,
    tariffs: CopaymentTable | None = None,
    resolver: Resolver = system_resolver,
) -> Worker:
    """Wire activities to their dependencies; adapters may be swapped (tests, other vendors).
    `tariffs`: the co-payment table already loaded (else ECONSULT_TARIFFS_FILE's, or the
    shipped one)."""
    # No pre-ping round trip per checkout: a stale connection fails one attempt, and every
    # activity is retried, so the worker needs no such guard (the API keeps it).
    sessions = create_session_factory(create_engine(settings.database_url, pool_pre_ping=False))
    directory = Directory(sessions)
    # Each practice's own webhook and record system, else the service-wide settings.
    endpoints = PracticeEndpoints(
        Practices(sessions),
        secrets_directory(settings.econsult_secrets_dir),
        OutboundPolicy.from_setting(settings.outbound_allowed_networks, resolver),
    )
    # The journal table is always written; entries of a practice with a record system (its own
    # or the service-wide one) also go on from there.
    forwarding = record_system_activities(
        settings, JournalTable(sessions), Attachments(sessions), endpoints
    )
    tariffs = tariffs or load_tariffs(settings.econsult_tariffs_file)
    consultations = consultations or Consultations(sessions)
    # The 1.0 flow's writes, for its runs still going (workflows/v1).
    v1 = ActivitiesV1(
        directory,
        consultations,
        JournalTable(sessions),
        Charges(sessions),
        forwarding=forwarding,
        table=tariffs,
    )
    notifications = NotificationActivities(
        Outbox(sessions), sender or notification_sender(settings, endpoints)
    )
    practices = PracticeActivities(Practices(sessions))
    redelivery = RedeliveryActivities(Redeliveries(sessions))
    frikort_register = frikort_register or FrikortTable(sessions)
    billing = BillingActivities(frikort_register)
    # The commit makes the first attempt at its notifications and the register's answer.
    case = CaseActivities(
        directory,
        consultations,
        forwarding=forwarding,
        table=tariffs,
        delivery=notifications.delivery,
        frikort_register=frikort_register,
    )
    return Worker(
        client,
        task_queue=settings.econsult_task_queue,
        # Redelivery: an operator's request to send a refused notification or entry again.
        workflows=[EConsultation, Redelivery],
        activities=[
            case.check_directory,
            case.check_reassignment,
            case.practice_calendar,
            case.commit,
            v1.record_consultation,
            v1.record_event,
            v1.store_message,
            v1.settle_copayment,
            practices.decline_message,
            notifications.send_notification,
            notifications.give_up_notification,
            redelivery.reopen_notification,
            redelivery.reopen_journal_entry,
            billing.ask_frikort_register,
            *([forwarding.forward_journal_entry] if forwarding else []),
        ],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_cached_workflows=settings.worker_max_cached_workflows,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Tracing comes with the client (infra/temporal.py); failure and retry counts here.
        interceptors=[ActivityMetricsInterceptor()],
        workflow_runner=WORKFLOW_RUNNER,
    )


PROCESS = "econsult-worker"


async def main() -> None:
    settings = settings_or_refuse(PROCESS)
    try:
        check_common(settings)
        runtime = worker_runtime(settings)
    except SettingRefused as error:
        raise refuse_to_start(PROCESS, error) from None
    configure_logging(settings.log_level)
    try:
        # Before connecting: a bad table is one line, not a traceback after the connection.
        tariffs = tariffs_or_refuse(settings)
        await check_case_store_tls(settings)
    except SettingRefused as error:
        raise refuse_to_start(PROCESS, error) from None
    configure_tracing(settings, PROCESS)
    client = await connect_or_refuse(PROCESS, settings, runtime)
    await sandbox_or_refuse(PROCESS, settings, client)
    worker = build_worker(client, settings, tariffs=tariffs)
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    async with worker:
        log.info("worker ready", extra={"task_queue": settings.econsult_task_queue})
        await stop.wait()
        # Leaving the block stops polling, lets running activities finish (GRACEFUL_SHUTDOWN)
        # and hands workflows back to the server for another worker.
        log.info("worker stopping", extra={"reason": received[0]})
    log.info("worker stopped")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except SystemExit as stopped:
        exit_at_once(stopped.code)
    # Everything is stopped and durable. Skip interpreter finalization: the SDK's native threads
    # can still touch the GIL then and abort the process (temporalio/sdk-python#300), which an
    # orchestrator would count as a crash.
    exit_at_once(0)
