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
    is_evening_rate,
    tariff_on,
)
from domain.models import CopaymentStatus
from tests.domain.copayment_support import TEST_TABLE, TEST_TARIFFS, charge, oslo, settle

# --- day and evening rate -----------------------------------------------------------------


def test_day_rate_at_10_00_on_a_weekday() -> None:
    outcome = decide_copayment(settle(oslo(2025, 9, 9, 10)), TEST_TABLE)  # Tuesday
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


# --- outcomes -----------------------------------------------------------------------------


def test_settled_at_is_the_reply_time() -> None:
    replied_at = oslo(2025, 9, 9, 12)
    assert decide_copayment(settle(replied_at), TEST_TABLE).settled_at == replied_at


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
    general = decide_copayment(settle(oslo(2025, 9, 9, hour)), TEST_TABLE)
    specialist = decide_copayment(
        settle(oslo(2025, 9, 9, hour), specialist_in_general_practice=True), TEST_TABLE
    )
    assert general.tariff == specialist.tariff
    assert general.amount_nok is not None and specialist.amount_nok is not None
    assert specialist.amount_nok > general.amount_nok


def test_a_table_missing_the_specialist_row_of_a_period_is_refused() -> None:
    without = [row for row in TEST_TARIFFS if not (row.specialist and row.tariff == "2aek")]
    with pytest.raises(ValueError, match="exactly one per"):
        check_tariff_table(without)


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
    outcome = decide_copayment(settle(replied_at, specialist_in_general_practice=specialist))
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
