"""Workflows call activities by name (workflows/calls.py), so that they need domain/ alone:
each name is the name of an activity the worker runs, and each refusal type the one raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from activities.billing import BillingActivities
from activities.case import CaseActivities
from activities.fhir import JOURNAL_REFUSED, RecordSystemActivities
from activities.notifications import NOTIFICATION_REFUSED, NotificationActivities
from activities.practices import PracticeActivities
from activities.redelivery import RedeliveryActivities
from activities.v1 import ActivitiesV1
from workflows import calls
from workflows.v1 import calls as calls_v1

CALLED: dict[str, Callable[..., Any]] = {
    calls.COMMIT: CaseActivities.commit,
    calls.CHECK_DIRECTORY: CaseActivities.check_directory,
    calls.CHECK_REASSIGNMENT: CaseActivities.check_reassignment,
    calls.PRACTICE_CALENDAR: CaseActivities.practice_calendar,
    calls.DECLINE_MESSAGE: PracticeActivities.decline_message,
    calls.ASK_FRIKORT_REGISTER: BillingActivities.ask_frikort_register,
    calls.SEND_NOTIFICATION: NotificationActivities.send_notification,
    calls.GIVE_UP_NOTIFICATION: NotificationActivities.give_up_notification,
    calls.FORWARD_JOURNAL_ENTRY: RecordSystemActivities.forward_journal_entry,
    calls.REOPEN_NOTIFICATION: RedeliveryActivities.reopen_notification,
    calls.REOPEN_JOURNAL_ENTRY: RedeliveryActivities.reopen_journal_entry,
    calls_v1.RECORD_CONSULTATION: ActivitiesV1.record_consultation,
    calls_v1.RECORD_EVENT: ActivitiesV1.record_event,
    calls_v1.STORE_MESSAGE: ActivitiesV1.store_message,
    calls_v1.SETTLE_COPAYMENT: ActivitiesV1.settle_copayment,
}


@pytest.mark.parametrize(("name", "method"), CALLED.items(), ids=CALLED.keys())
def test_each_name_a_workflow_calls_is_an_activity_of_that_name(
    name: str, method: Callable[..., Any]
) -> None:
    definition = getattr(method, "__temporal_activity_definition", None)

    assert definition is not None, f"{method.__qualname__} is not an activity"
    assert definition.name == name


def test_the_refusal_the_workflows_do_not_retry_is_the_one_the_record_system_raises() -> None:
    assert calls.JOURNAL_REFUSED == JOURNAL_REFUSED
    assert calls.NOTIFICATION_REFUSED == NOTIFICATION_REFUSED
