"""Redelivery: one refused notification or journal entry sent again, on an operator's request.

A workflow of its own, so the consultation's workflow is never touched: its id names the item
and the request's number (`redelivery_workflow_id`), so a request repeated while one runs finds
it instead of starting a second. It reopens the row and runs the same send activity, with the
same timeouts and retry policy, as the consultation did; the receiver sees the same key
(`webhook-id`, the FHIR identifier) and can drop a duplicate it already stored.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.fhir import RecordSystemActivities
    from activities.notifications import NotificationActivities
    from activities.redelivery import RedeliveryActivities
    from domain.effects import Redeliver, RedeliveryKind, RedeliveryResult
    from workflows.calls import (
        FORWARD_RETRY,
        FORWARD_TIMEOUT,
        NOTIFY_GIVES_UP_AFTER,
        NOTIFY_RETRY,
        NOTIFY_TIMEOUT,
        case_store,
    )


@workflow.defn
class Redelivery:
    @workflow.run
    async def run(self, request: Redeliver) -> RedeliveryResult:
        if request.kind == RedeliveryKind.NOTIFICATION:
            return await self._notification(request)
        return await self._journal_entry(request)

    async def _notification(self, request: Redeliver) -> RedeliveryResult:
        notification = await case_store(RedeliveryActivities.reopen_notification, request)
        if notification is None:
            return RedeliveryResult(key=request.key, reopened=False, delivered=False)
        try:
            await workflow.execute_activity_method(
                NotificationActivities.send_notification,
                notification,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                schedule_to_close_timeout=NOTIFY_GIVES_UP_AFTER,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError:
            workflow.logger.error(
                "notification refused again", extra={"notification_key": request.key}
            )
            return RedeliveryResult(key=request.key, reopened=True, delivered=False)
        return RedeliveryResult(key=request.key, reopened=True, delivered=True)

    async def _journal_entry(self, request: Redeliver) -> RedeliveryResult:
        forward = await case_store(RedeliveryActivities.reopen_journal_entry, request)
        if forward is None:
            return RedeliveryResult(key=request.key, reopened=False, delivered=False)
        try:
            await workflow.execute_activity_method(
                RecordSystemActivities.forward_journal_entry,
                forward,
                start_to_close_timeout=FORWARD_TIMEOUT,
                retry_policy=FORWARD_RETRY,
            )
        except ActivityError:
            workflow.logger.error("journal entry refused again", extra={"entry_key": request.key})
            return RedeliveryResult(key=request.key, reopened=True, delivered=False)
        return RedeliveryResult(key=request.key, reopened=True, delivered=True)
