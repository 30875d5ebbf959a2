"""Co-payment (egenandel) rules (SPEC section 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.copayment import (
    DEFAULT_TARIFFS,
    TariffRate,
    decide_copayment,
    exemption_reason,
    is_evening_rate,
    tariff_on,
)
from domain.models import CopaymentStatus, Patient, SettleCopayment
from domain.working_days import OSLO

ADULT = Patient(id="p-adult", birth_date=date(1980, 1, 1))
TEST_TARIFFS = (
    TariffRate(
        valid_from=date(2025, 7, 1),
        day_amount_nok=Decimal("100"),
        evening_amount_nok=Decimal("200"),
        source="test table 2025",
    ),
    TariffRate(
        valid_from=date(2026, 7, 1),
        day_amount_nok=Decimal("110"),
        evening_amount_nok=Decimal("220"),
        source="test table 2026",
    ),
)


def oslo(
    year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0
) -> datetime:
    """An aware Oslo wall-clock instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=OSLO)


def settle(
    replied_at: datetime,
    patient: Patient = ADULT,
    *,
    billable: bool = True,
    clinician_replied: bool = True,
) -> SettleCopayment:
    """A settle request for the test tariff table."""
    return SettleCopayment(
        consultation_id="c-1",
        patient=patient,
        replied_at=replied_at,
        billable=billable,
        clinician_replied=clinician_replied,
    )


def charge(replied_at: datetime, patient: Patient = ADULT) -> tuple[str | None, Decimal | None]:
    """Tariff code and amount charged for a billable reply at `replied_at`."""
    outcome = decide_copayment(settle(replied_at, patient), TEST_TARIFFS)
    return outcome.tariff, outcome.amount_nok


# --- day and evening rate -----------------------------------------------------------------


def test_day_rate_at_10_00_on_a_weekday() -> None:
    outcome = decide_copayment(settle(oslo(2025, 9, 9, 10)), TEST_TARIFFS)  # Tuesday
    assert outcome.status == CopaymentStatus.CHARGED
    assert (outcome.tariff, outcome.amount_nok) == ("2ae", Decimal("100"))


def test_evening_rate_from_16_00_exactly() -> None:
    assert charge(oslo(2025, 9, 9, 16)) == ("2aek", Decimal("200"))


def test_day_rate_until_just_before_16_00() -> None:
    assert charge(oslo(2025, 9, 9, 15, 59, 59)) == ("2ae", Decimal("100"))


def test_evening_rate_at_07_59() -> None:
    assert charge(oslo(2025, 9, 9, 7, 59)) == ("2aek", Decimal("200"))


def test_day_rate_from_08_00_exactly() -> None:
    assert charge(oslo(2025, 9, 9, 8)) == ("2ae", Decimal("100"))


@pytest.mark.parametrize("day", [date(2025, 9, 13), date(2025, 9, 14)], ids=["sat", "sun"])
def test_evening_rate_all_day_on_weekends(day: date) -> None:
    assert charge(oslo(day.year, day.month, day.day, 10)) == ("2aek", Decimal("200"))


@pytest.mark.parametrize(
    "day",
    [date(2028, 5, 17), date(2026, 5, 14), date(2026, 12, 25)],
    ids=["17-may-wednesday", "ascension-thursday", "christmas-day-friday"],
)
def test_evening_rate_all_day_on_weekday_public_holidays(day: date) -> None:
    assert day.weekday() < 5
    assert charge(oslo(day.year, day.month, day.day, 10))[0] == "2aek"


def test_day_rate_on_christmas_eve_a_working_day() -> None:
    assert charge(oslo(2026, 12, 24, 10)) == ("2ae", Decimal("110"))


def test_rate_follows_oslo_wall_clock_not_utc() -> None:
    assert is_evening_rate(datetime(2025, 9, 9, 14, 30, tzinfo=UTC))  # 16:30 CEST
    assert not is_evening_rate(datetime(2025, 12, 9, 7, 30, tzinfo=UTC))  # 08:30 CET


def test_evening_rate_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_evening_rate(datetime(2025, 9, 9, 10))


# --- exemptions ---------------------------------------------------------------------------


def test_under_16_the_day_before_the_16th_birthday_is_exempt() -> None:
    child = Patient(id="p-child", birth_date=date(2010, 9, 10))
    outcome = decide_copayment(settle(oslo(2026, 9, 9), child), TEST_TARIFFS)
    assert exemption_reason(child, date(2026, 9, 9)) == "under_16"
    assert outcome.status == CopaymentStatus.EXEMPT
    assert (outcome.tariff, outcome.amount_nok) == ("2ae", Decimal("0"))


def test_16th_birthday_is_no_longer_under_16() -> None:
    teen = Patient(id="p-teen", birth_date=date(2010, 9, 10))
    outcome = decide_copayment(settle(oslo(2026, 9, 10), teen), TEST_TARIFFS)
    assert exemption_reason(teen, date(2026, 9, 10)) is None
    assert outcome.status == CopaymentStatus.CHARGED


def test_under_16_uses_the_oslo_day_of_the_reply() -> None:
    teen = Patient(id="p-teen", birth_date=date(2010, 9, 10))
    replied_at = datetime(2026, 9, 9, 22, 30, tzinfo=UTC)  # 00:30 CEST on the birthday
    assert decide_copayment(settle(replied_at, teen), TEST_TARIFFS).status == (
        CopaymentStatus.CHARGED
    )


@pytest.mark.parametrize(
    ("birth_date", "on_day", "expected"),
    [
        (date(2008, 2, 29), date(2024, 2, 28), "under_16"),
        (date(2008, 2, 29), date(2024, 2, 29), None),
        (date(2084, 2, 29), date(2100, 2, 28), "under_16"),
        (date(2084, 2, 29), date(2100, 3, 1), None),
    ],
    ids=["leap-day-before", "leap-birthday", "common-year-28-feb", "common-year-1-mar"],
)
def test_29_february_birthday_turns_16_on_1_march_in_a_common_year(
    birth_date: date, on_day: date, expected: str | None
) -> None:
    assert exemption_reason(Patient(id="p", birth_date=birth_date), on_day) == expected


def test_frikort_holder_is_exempt() -> None:
    patient = ADULT.model_copy(update={"frikort": True})
    outcome = decide_copayment(settle(oslo(2025, 9, 9, 18), patient), TEST_TARIFFS)
    assert exemption_reason(patient, date(2025, 9, 9)) == "frikort"
    assert outcome.status == CopaymentStatus.EXEMPT
    assert (outcome.tariff, outcome.amount_nok) == ("2aek", Decimal("0"))


def test_portal_exemption_reason_is_exempt() -> None:
    patient = ADULT.model_copy(update={"exemption": " pregnancy "})
    outcome = decide_copayment(settle(oslo(2025, 9, 9), patient), TEST_TARIFFS)
    assert exemption_reason(patient, date(2025, 9, 9)) == "pregnancy"
    assert outcome.status == CopaymentStatus.EXEMPT


def test_blank_portal_exemption_reason_is_not_an_exemption() -> None:
    patient = ADULT.model_copy(update={"exemption": "   "})
    assert exemption_reason(patient, date(2025, 9, 9)) is None


def test_under_16_is_reported_before_frikort() -> None:
    child = Patient(id="p-child", birth_date=date(2015, 1, 1), frikort=True, exemption="other")
    assert exemption_reason(child, date(2025, 9, 9)) == "under_16"


# --- outcomes -----------------------------------------------------------------------------


def test_not_billable_reply_is_no_charge_without_tariff_or_amount() -> None:
    outcome = decide_copayment(settle(oslo(2025, 9, 9), billable=False), TEST_TARIFFS)
    assert outcome.status == CopaymentStatus.NO_CHARGE
    assert (outcome.tariff, outcome.amount_nok) == (None, None)


def test_no_clinician_reply_is_not_applicable() -> None:
    replied_at = oslo(2025, 9, 9)
    outcome = decide_copayment(settle(replied_at, clinician_replied=False), TEST_TARIFFS)
    assert outcome.status == CopaymentStatus.NOT_APPLICABLE
    assert (outcome.tariff, outcome.amount_nok) == (None, None)


@pytest.mark.parametrize(
    ("billable", "clinician_replied"), [(True, True), (False, True), (True, False)]
)
def test_settled_at_is_the_reply_time(billable: bool, clinician_replied: bool) -> None:
    replied_at = oslo(2025, 9, 9, 12)
    request = settle(replied_at, billable=billable, clinician_replied=clinician_replied)
    assert decide_copayment(request, TEST_TARIFFS).settled_at == replied_at


# --- tariff table -------------------------------------------------------------------------


def test_tariff_row_switches_on_1_july_oslo_time() -> None:
    assert charge(oslo(2026, 6, 30, 23, 59, 59)) == ("2aek", Decimal("200"))
    assert charge(oslo(2026, 7, 1, 0, 0)) == ("2aek", Decimal("220"))
    assert charge(datetime(2026, 6, 30, 22, 30, tzinfo=UTC)) == ("2aek", Decimal("220"))
    assert charge(oslo(2026, 7, 1, 10)) == ("2ae", Decimal("110"))


def test_tariff_on_picks_the_latest_row_whatever_the_order() -> None:
    assert tariff_on(date(2027, 1, 1), tuple(reversed(TEST_TARIFFS))).valid_from == date(2026, 7, 1)


def test_tariff_on_refuses_a_day_before_the_first_row() -> None:
    with pytest.raises(ValueError, match="no co-payment tariff"):
        tariff_on(date(2025, 6, 30), TEST_TARIFFS)


def test_tariff_rate_is_frozen() -> None:
    with pytest.raises(ValidationError):
        TEST_TARIFFS[0].day_amount_nok = Decimal("1")  # type: ignore[misc]


def test_shipped_table_has_rows_from_1_july_2025_and_2026() -> None:
    assert tariff_on(date(2025, 7, 1)).valid_from == date(2025, 7, 1)
    assert tariff_on(date(2026, 7, 1)).valid_from == date(2026, 7, 1)


def test_shipped_table_names_its_source() -> None:
    for rate in DEFAULT_TARIFFS:
        assert (rate.day_tariff, rate.evening_tariff) == ("2ae", "2aek")
        assert "http" in rate.source
        assert "Normaltariffen" in rate.source
        assert rate.day_amount_nok > 0
        assert rate.evening_amount_nok > rate.day_amount_nok


def test_shipped_table_marks_unverified_figures_as_placeholders() -> None:
    placeholders = [rate for rate in DEFAULT_TARIFFS if "PLACEHOLDER" in rate.source]
    assert {rate.valid_from for rate in placeholders} == {date(2025, 7, 1), date(2026, 7, 1)}


def test_shipped_table_charges_a_day_reply() -> None:
    outcome = decide_copayment(settle(oslo(2025, 9, 9, 10)))
    assert outcome.status == CopaymentStatus.CHARGED
    assert (outcome.tariff, outcome.amount_nok) == (
        "2ae",
        tariff_on(date(2025, 9, 9)).day_amount_nok,
    )
