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
    from domain.effects import (
        JournalForward,
        NotificationInput,
        Redeliver,
        RedeliveryKind,
        RedeliveryResult,
    )
    from workflows.calls import (
        REOPEN_JOURNAL_ENTRY,
        REOPEN_NOTIFICATION,
        case_store,
        send_journal_entry,
        send_notification,
    )


@workflow.defn
class Redelivery:
    @workflow.run
    async def run(self, request: Redeliver) -> RedeliveryResult:
        if request.kind == RedeliveryKind.NOTIFICATION:
            # None (a null payload, whatever the answer's type) when there was nothing to reopen.
            notification: NotificationInput | None = await case_store(
                REOPEN_NOTIFICATION, request, NotificationInput
            )
            if notification is None:
                return RedeliveryResult(key=request.key, reopened=False, delivered=False)
            delivered = await send_notification(notification)
        else:
            forward: JournalForward | None = await case_store(
                REOPEN_JOURNAL_ENTRY, request, JournalForward
            )
            if forward is None:
                return RedeliveryResult(key=request.key, reopened=False, delivered=False)
            delivered = await send_journal_entry(forward)
        if not delivered:
            workflow.logger.error(
                "refused again", extra={"kind": request.kind.value, "key": request.key}
            )
        return RedeliveryResult(key=request.key, reopened=True, delivered=delivered)
