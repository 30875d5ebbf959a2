"""What an event carries besides ids (the settled co-payment, the refused entry) is kept on its
outbox row, so an operator's redelivery sends the body that was first sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from activities.webhooks import webhook_body
from domain.decisions import new_case
from domain.effects import NotificationInput
from domain.entries import copayment_settled, journal_entry_refused
from domain.models import Copayment, CopaymentStatus, Status
from store.case_writes import Consultations
from store.outbox import Outbox
from store.redeliveries import Redeliveries
from tests.store.support import NOW, Sessions, record
from tests.support import journal_entry, new_start


def _settled(consultation_id: str) -> NotificationInput:
    case = new_case(new_start(consultation_id=consultation_id), NOW, exemptions_judged=True)
    charged = Copayment(status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("167.00"))
    return copayment_settled(case, charged, NOW + timedelta(hours=1))


def _refused(consultation_id: str) -> NotificationInput:
    entry = journal_entry(
        consultation_id=consultation_id,
        occurred_at=NOW,
        practice_id="practice-1",
        recipient_id="9100001",
    )
    return journal_entry_refused(entry, 422, NOW + timedelta(minutes=1))


@pytest.mark.parametrize("made", [_settled, _refused], ids=["copayment_settled", "refused"])
async def test_a_refused_event_is_redelivered_with_the_body_first_sent(
    store: Sessions, made: Callable[[str], NotificationInput]
) -> None:
    consultation_id = uuid.uuid4().hex
    await Consultations(store).save(record(consultation_id, 1, Status.AWAITING_PATIENT))
    notification = made(consultation_id)
    outbox = Outbox(store)
    assert await outbox.enqueue(notification)
    assert await outbox.mark_failed(notification.notification_key, http_status=410)

    reopened = await Redeliveries(store).reopen_notification(notification.notification_key, 1)

    assert reopened is not None
    assert webhook_body(reopened) == webhook_body(notification)
    assert reopened.copayment == notification.copayment
    assert reopened.journal_entry == notification.journal_entry
