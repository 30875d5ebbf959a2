"""Redelivery, for operators: a notification or journal entry its receiver refused for good (a
final 4xx), or a notification given up on after a week of retries, is sent again, once per
request, after the receiver is fixed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AdminCaller
from api.openapi import ADMIN
from api.outages import TEMPORAL, DependencyUnavailableError
from api.problems import AUTHENTICATED, Problem, not_found, problem_responses
from api.schemas import RedeliveryOut
from api.services import Deps, Services
from domain.effects import Redeliver, RedeliveryKind, redelivery_workflow_id
from store.redeliveries import Delivery, DeliveryRecord, Redeliveries
from workflows.redelivery import Redelivery

router = APIRouter(
    prefix="/v1",
    tags=[ADMIN],
    responses=problem_responses(*AUTHENTICATED, 404, 409),
)

# As the keys are stored (notifications.notification_key, journal_entries.entry_key).
Key = Annotated[str, Path(min_length=1, max_length=128)]

_NOT_REFUSED = {
    Delivery.DELIVERED: "it was delivered",
    Delivery.PENDING: "it has not been refused for good: it is still being delivered (retried)",
}
# What may be sent again: refused for good, or (notifications) given up on after a week.
_REDELIVERABLE = {Delivery.REFUSED, Delivery.GIVEN_UP}


def _refused(record: DeliveryRecord | None, what: str) -> DeliveryRecord:
    """The item if its receiver refused it for good or it was given up on; 404 or 409
    otherwise."""
    if record is None:
        raise not_found(what)
    if record.delivery not in _REDELIVERABLE:
        raise Problem(
            409,
            f"the {what} is not refused: {_NOT_REFUSED[record.delivery]}",
            kind="invalid-transition",
        )
    return record


# What each kind is called in a problem's detail.
_WHAT = {RedeliveryKind.NOTIFICATION: "notification", RedeliveryKind.JOURNAL_ENTRY: "journal entry"}
# Both routes answer at once; the redelivery runs on in its own workflow.
_ACCEPTED: dict[str, Any] = {"status_code": 202, "response_model": RedeliveryOut}


async def _redeliver(
    services: Services, kind: RedeliveryKind, key: str, found: DeliveryRecord | None
) -> RedeliveryOut:
    """Start the item's next redelivery if it was refused for good or given up on; a request
    racing this one finds it started (409)."""
    n = _refused(found, _WHAT[kind]).redeliveries + 1
    workflow_id = redelivery_workflow_id(kind, key, n)
    client = await services.temporal.client()
    try:
        await client.start_workflow(
            Redelivery.run,
            Redeliver(kind=kind, key=key, redelivery=n),
            id=workflow_id,
            task_queue=services.settings.econsult_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError as error:
        raise Problem(
            409,
            f"a redelivery of this {kind.value} is already under way",
            kind="invalid-transition",
        ) from error
    except RPCError as error:
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise DependencyUnavailableError(TEMPORAL) from error
        raise
    return RedeliveryOut(kind=kind.value, key=key, redelivery=n, workflow_id=workflow_id)


@router.post(
    "/notifications/{notification_key}/redeliver", operation_id="redeliverNotification", **_ACCEPTED
)
async def redeliver_notification(
    notification_key: Key, _caller: AdminCaller, services: Deps
) -> RedeliveryOut:
    """Send a notification its receiver refused for good, or that was given up on after a
    week of retries, again, once, with the same `webhook-id`; 409 when it was delivered or is
    still being retried."""
    found = await Redeliveries(services.sessions).notification(notification_key)
    return await _redeliver(services, RedeliveryKind.NOTIFICATION, notification_key, found)


@router.post(
    "/journal-entries/{entry_key}/redeliver", operation_id="redeliverJournalEntry", **_ACCEPTED
)
async def redeliver_journal_entry(
    entry_key: Key, _caller: AdminCaller, services: Deps
) -> RedeliveryOut:
    """Send a journal entry the record system refused for good again, once, with the same
    identifier; 409 when it was delivered or is still being retried."""
    found = await Redeliveries(services.sessions).journal_entry(entry_key)
    return await _redeliver(services, RedeliveryKind.JOURNAL_ENTRY, entry_key, found)
