"""The co-payment tests' tariff table, patient and Oslo instants."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.copayment import (
    CopaymentTable,
    decide_copayment,
    tariff_rows,
)
from domain.effects import SettleCopayment
from domain.parties import Patient
from domain.working_days import OSLO

ADULT = Patient(id="p-adult", birth_date=date(1980, 1, 1))
TEST_TARIFFS = (
    *tariff_rows(date(2025, 7, 1), ("100", "200", "150", "250"), "test 2025", confirmed=True),
    *tariff_rows(date(2026, 7, 1), ("110", "220", "160", "260"), "test 2026", confirmed=True),
)
TEST_TABLE = CopaymentTable(tariffs=TEST_TARIFFS)


def oslo(
    year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0
) -> datetime:
    """An aware Oslo wall-clock instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=OSLO)


def settle(replied_at: datetime, patient: Patient = ADULT, **fields: Any) -> SettleCopayment:
    """A settle request for the first billable message at `replied_at`."""
    fields.setdefault("clinician_id", "hpr-1")
    return SettleCopayment(consultation_id="c-1", patient=patient, replied_at=replied_at, **fields)


def charge(replied_at: datetime, patient: Patient = ADULT) -> tuple[str | None, Decimal | None]:
    """Tariff code and amount charged for a billable reply at `replied_at`."""
    outcome = decide_copayment(settle(replied_at, patient), TEST_TABLE)
    return outcome.tariff, outcome.amount_nok
