"""Co-payment (egenandel) rules (docs/copayment.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.copayment import (
    DEFAULT_TARIFFS,
    check_tariff_table,
    decide_copayment,
    exemption_reason,
    is_evening_rate,
    tariff_on,
    tariff_rows,
)
from domain.models import CopaymentStatus, Patient, SettleCopayment
from domain.working_days import OSLO

ADULT = Patient(id="p-adult", birth_date=date(1980, 1, 1))
TEST_TARIFFS = (
    *tariff_rows(date(2025, 7, 1), ("100", "200", "150", "250"), "test 2025", confirmed=True),
    *tariff_rows(date(2026, 7, 1), ("110", "220", "160", "260"), "test 2026", confirmed=True),
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
    row = tariff_on(date(2027, 1, 1), "2ae", False, tuple(reversed(TEST_TARIFFS)))
    assert row.valid_from == date(2026, 7, 1)


def test_tariff_on_refuses_a_day_before_the_first_row() -> None:
    with pytest.raises(ValueError, match="no co-payment tariff"):
        tariff_on(date(2025, 6, 30), "2ae", False, TEST_TARIFFS)


def test_tariff_rate_is_frozen() -> None:
    with pytest.raises(ValidationError):
        TEST_TARIFFS[0].amount_nok = Decimal("1")  # type: ignore[misc]


# --- the specialist rate ------------------------------------------------------------------


@pytest.mark.parametrize("hour", [10, 18], ids=["day", "evening"])
def test_specialist_pays_the_same_tariff_at_a_higher_amount(hour: int) -> None:
    request = settle(oslo(2025, 9, 9, hour))
    general = decide_copayment(request, TEST_TARIFFS, specialist=False)
    specialist = decide_copayment(request, TEST_TARIFFS, specialist=True)
    assert general.tariff == specialist.tariff
    assert general.amount_nok is not None and specialist.amount_nok is not None
    assert specialist.amount_nok > general.amount_nok


def test_a_table_missing_the_specialist_row_of_a_period_is_refused() -> None:
    without = [row for row in TEST_TARIFFS if not (row.specialist and row.tariff == "2aek")]
    with pytest.raises(ValueError, match="exactly one per"):
        check_tariff_table(without)


# --- frikort on the day of the reply ------------------------------------------------------


def test_frikort_from_the_register_on_the_reply_day_is_exempt() -> None:
    request = settle(oslo(2025, 9, 9)).model_copy(update={"frikort_on_reply_day": True})
    outcome = decide_copayment(request, TEST_TARIFFS, specialist=True)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert outcome.amount_nok == Decimal(0)
    assert exemption_reason(ADULT, date(2025, 9, 9), frikort_on_day=True) == "frikort"


# --- the shipped table --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replied_at", "specialist", "expected"),
    [
        (oslo(2025, 8, 1, 10), False, ("2ae", Decimal("179"))),  # Friday
        (oslo(2025, 8, 1, 18), False, ("2aek", Decimal("301"))),
        (oslo(2025, 8, 1, 10), True, ("2ae", Decimal("235"))),
        (oslo(2025, 8, 1, 18), True, ("2aek", Decimal("357"))),
        (oslo(2026, 8, 3, 10), False, ("2ae", Decimal("179"))),  # 2026-08-01 is a Saturday
        (oslo(2026, 8, 1, 10), False, ("2aek", Decimal("301"))),
        (oslo(2026, 8, 1, 10), True, ("2aek", Decimal("357"))),
        (oslo(2024, 8, 1, 10), False, ("2ae", Decimal("170"))),
    ],
)
def test_shipped_table_amount_by_reply_date(
    replied_at: datetime, specialist: bool, expected: tuple[str, Decimal]
) -> None:
    outcome = decide_copayment(settle(replied_at), specialist=specialist)
    assert (outcome.tariff, outcome.amount_nok) == expected


def test_shipped_table_has_all_four_rows_from_1_july_2025_and_2026() -> None:
    check_tariff_table(DEFAULT_TARIFFS)
    for day in (date(2025, 7, 1), date(2026, 7, 1)):
        for code in ("2ae", "2aek"):
            for specialist in (False, True):
                assert tariff_on(day, code, specialist).valid_from == day


def test_every_shipped_row_names_its_source_with_an_address() -> None:
    for row in DEFAULT_TARIFFS:
        assert "http" in row.source, row
        assert row.amount_nok > 0


def test_shipped_rows_without_a_primary_source_stay_marked_unconfirmed() -> None:
    """Only Legeforeningen's Normaltariffen or Helfo/helsenorge confirm a figure.

    A row may be marked confirmed only if its source cites one of them, and the rows found
    only in practices' price lists, or carried forward, are marked unconfirmed.
    """
    primary = ("normaltariffen.legeforeningen.no", "helfo.no", "helsenorge.no")
    for row in DEFAULT_TARIFFS:
        if row.confirmed:
            assert any(site in row.source for site in primary), row
            assert not row.specialist, "the specialist figures come from price lists only"
    unconfirmed = {
        (row.valid_from, row.tariff, row.specialist) for row in DEFAULT_TARIFFS if not row.confirmed
    }
    for day in (date(2023, 7, 1), date(2025, 7, 1), date(2026, 7, 1)):
        for code in ("2ae", "2aek"):
            for specialist in (False, True):
                assert (day, code, specialist) in unconfirmed
