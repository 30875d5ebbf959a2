"""Co-payment activity: decide by the billing rules, record once per consultation."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from domain.copayment import DEFAULT_TARIFFS, TariffRate, decide_copayment, exemption_reason
from domain.models import CopaymentOutcome, SettleCopayment
from domain.working_days import oslo_day
from store.records import Charges


class BillingActivities:
    def __init__(
        self,
        charges: Charges,
        tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS,
    ) -> None:
        self._charges = charges
        self._tariffs = tariffs

    @activity.defn
    async def settle_copayment(self, request: SettleCopayment) -> CopaymentOutcome:
        outcome = decide_copayment(request, self._tariffs)
        reason = exemption_reason(request.patient, oslo_day(request.replied_at))
        return await self._charges.record_once(
            request.consultation_id, request.patient, outcome, reason, request.clinician_id
        )
