"""What a consultation leaves in its history, each event costing the server a write: one patch
marker per patch a new run takes (the newest flow's, which implies the older ones), search
attributes upserted only when they change, one timer per deadline, and no activity when the
commit's first attempts answer (notifications, the frikort register)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from domain.models import CloseCommand, CopaymentStatus, ReplyCommand, Role
from tests.support import CLINICIAN, content, new_start, start
from tests.workflows.support import seeded_worker
from workflows.econsultation import FIRST_ATTEMPT_IN_COMMIT, EConsultation

PATCH_MARKER = "core_patch"
# The patches a run started now takes, each asked once at its start.
PATCHES_OF_A_NEW_RUN = (FIRST_ATTEMPT_IN_COMMIT,)
# Upserted by the SDK with each patch marker; not one of the case's attributes.
CHANGE_VERSION = "TemporalChangeVersion"


def of_type(events: list[HistoryEvent], kind: EventType.ValueType) -> list[HistoryEvent]:
    return [event for event in events if event.event_type == kind]


async def test_a_lifecycle_records_a_marker_per_patch_changed_attributes_and_a_timer_per_deadline(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with seeded_worker(dev_env, sqlite_url, sessions) as task_queue:
        handle = await start(dev_env.client, task_queue, new_start())
        await handle.execute_update(EConsultation.opened)
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        # The co-payment settles in the background, a change that keeps the patient's deadline.
        for _ in range(100):
            if (await handle.query(EConsultation.view)).copayment.status != CopaymentStatus.PENDING:
                break
            await asyncio.sleep(0.1)
        await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
        await handle.result()
        events = list((await handle.fetch_history()).events)

    markers = of_type(events, EventType.EVENT_TYPE_MARKER_RECORDED)
    assert [m.marker_recorded_event_attributes.marker_name for m in markers].count(
        PATCH_MARKER
    ) == len(PATCHES_OF_A_NEW_RUN)
    shown: dict[str, bytes] = {}
    for event in of_type(events, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        upserted = {
            name: payload.SerializeToString()
            for name, payload in fields.indexed_fields.items()
            if name != CHANGE_VERSION
        }
        if not upserted:
            continue
        assert any(shown.get(name) != value for name, value in upserted.items()), upserted
        shown.update(upserted)
    # The reminder while the clinician owes an answer, then inactivity while the patient does;
    # the settlement in between keeps the running timer.
    assert len(of_type(events, EventType.EVENT_TYPE_TIMER_STARTED)) == 2
    # Notifications and the frikort register answered the commits' first attempts.
    assert of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == []
