"""Redelivery: one refused notification or journal entry sent again, on an operator's request.

A workflow of its own, so the consultation's workflow is never touched: its id names the item
and the request's number (`redelivery_workflow_id`), so a request repeated while one runs finds
it instead of starting a second. It reopens the row and runs the same send activity, with the
same timeouts and retry policy, as the consultation did; the receiver sees the same key
(`webhook-id`, the FHIR identifier) and can drop a duplicate it already stored.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.redelivery import RedeliveryActivities
    from domain.effects import Redeliver, RedeliveryKind, RedeliveryResult
    from workflows.calls import case_store, send_journal_entry, send_notification


@workflow.defn
class Redelivery:
    @workflow.run
    async def run(self, request: Redeliver) -> RedeliveryResult:
        if request.kind == RedeliveryKind.NOTIFICATION:
            notification = await case_store(RedeliveryActivities.reopen_notification, request)
            if notification is None:
                return RedeliveryResult(key=request.key, reopened=False, delivered=False)
            delivered = await send_notification(notification)
        else:
            forward = await case_store(RedeliveryActivities.reopen_journal_entry, request)
            if forward is None:
                return RedeliveryResult(key=request.key, reopened=False, delivered=False)
            delivered = await send_journal_entry(forward)
        if not delivered:
            workflow.logger.error(
                "refused again", extra={"kind": request.kind.value, "key": request.key}
            )
        return RedeliveryResult(key=request.key, reopened=True, delivered=delivered)
