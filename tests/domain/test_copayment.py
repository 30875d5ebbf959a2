"""Co-payment (egenandel) rules (docs/copayment.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.copayment import (
    DEFAULT_AGE_LIMITS,
    DEFAULT_TARIFFS,
    AgeLimit,
    CopaymentTable,
    age_limit_on,
    check_tariff_table,
    decide_copayment,
    exemption_reason,
    is_evening_rate,
    start_frikort_counts,
    tariff_on,
    tariff_rows,
)
from domain.effects import SettleCopayment
from domain.models import CopaymentStatus
from domain.parties import ExemptionCode, Patient
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
    return SettleCopayment(consultation_id="c-1", patient=patient, replied_at=replied_at, **fields)


def charge(replied_at: datetime, patient: Patient = ADULT) -> tuple[str | None, Decimal | None]:
    """Tariff code and amount charged for a billable reply at `replied_at`."""
    outcome = decide_copayment(settle(replied_at, patient), TEST_TABLE)
    return outcome.tariff, outcome.amount_nok


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


# --- exemptions, in their order -------------------------------------------------------------


def test_under_the_age_limit_the_day_before_the_16th_birthday_is_exempt() -> None:
    child = Patient(id="p-child", birth_date=date(2010, 9, 10))
    outcome = decide_copayment(settle(oslo(2026, 9, 9), child), TEST_TABLE)
    assert exemption_reason(child, date(2026, 9, 9)) == ExemptionCode.UNDER_AGE
    assert outcome.status == CopaymentStatus.EXEMPT
    assert (outcome.tariff, outcome.amount_nok) == ("2ae", Decimal("0"))
    assert (outcome.exemption, outcome.exemption_note) == (ExemptionCode.UNDER_AGE, None)


def test_the_16th_birthday_is_no_longer_under_the_age_limit() -> None:
    teen = Patient(id="p-teen", birth_date=date(2010, 9, 10))
    outcome = decide_copayment(settle(oslo(2026, 9, 10), teen), TEST_TABLE)
    assert exemption_reason(teen, date(2026, 9, 10)) is None
    assert outcome.status == CopaymentStatus.CHARGED
    assert outcome.exemption is None


def test_the_age_limit_uses_the_oslo_day_of_the_message() -> None:
    teen = Patient(id="p-teen", birth_date=date(2010, 9, 10))
    replied_at = datetime(2026, 9, 9, 22, 30, tzinfo=UTC)  # 00:30 CEST on the birthday
    assert decide_copayment(settle(replied_at, teen), TEST_TABLE).status == (
        CopaymentStatus.CHARGED
    )


@pytest.mark.parametrize(
    ("birth_date", "on_day", "expected"),
    [
        (date(2008, 2, 29), date(2024, 2, 28), ExemptionCode.UNDER_AGE),
        (date(2008, 2, 29), date(2024, 2, 29), None),
        (date(2084, 2, 29), date(2100, 2, 28), ExemptionCode.UNDER_AGE),
        (date(2084, 2, 29), date(2100, 3, 1), None),
    ],
    ids=["leap-day-before", "leap-birthday", "common-year-28-feb", "common-year-1-mar"],
)
def test_29_february_birthday_turns_16_on_1_march_in_a_common_year(
    birth_date: date, on_day: date, expected: ExemptionCode | None
) -> None:
    assert exemption_reason(Patient(id="p", birth_date=birth_date), on_day) == expected


def test_frikort_on_the_message_day_is_exempt() -> None:
    request = settle(oslo(2025, 9, 9, 18), frikort_on_reply_day=True)
    outcome = decide_copayment(request, TEST_TABLE)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert (outcome.tariff, outcome.amount_nok) == ("2aek", Decimal("0"))
    assert outcome.exemption == ExemptionCode.FRIKORT


def test_settlement_does_not_read_the_patients_start_flag() -> None:
    """The workflow passes the effective answer; the start flag alone exempts nothing."""
    patient = ADULT.model_copy(update={"frikort": True})
    outcome = decide_copayment(settle(oslo(2025, 9, 9), patient), TEST_TABLE)
    assert outcome.status == CopaymentStatus.CHARGED


def test_the_patients_code_from_the_start_is_exempt() -> None:
    patient = ADULT.model_copy(update={"exemption": ExemptionCode.PREGNANCY_CHECKUP})
    outcome = decide_copayment(settle(oslo(2025, 9, 9), patient), TEST_TABLE)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert (outcome.exemption, outcome.exemption_note) == (ExemptionCode.PREGNANCY_CHECKUP, None)


def test_a_code_declared_by_the_clinician_is_exempt_with_its_note() -> None:
    request = settle(
        oslo(2025, 9, 9), exemption=ExemptionCode.OTHER, exemption_note="war injury (krigsskade)"
    )
    outcome = decide_copayment(request, TEST_TABLE)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert outcome.exemption == ExemptionCode.OTHER
    assert outcome.exemption_note == "war injury (krigsskade)"


def test_the_note_of_the_patients_other_is_recorded() -> None:
    patient = ADULT.model_copy(
        update={"exemption": ExemptionCode.OTHER, "exemption_note": "in prison"}
    )
    outcome = decide_copayment(settle(oslo(2025, 9, 9), patient), TEST_TABLE)
    assert (outcome.exemption, outcome.exemption_note) == (ExemptionCode.OTHER, "in prison")


@given(
    declared=st.sampled_from(ExemptionCode),
    patients=st.none() | st.sampled_from(ExemptionCode),
    child=st.booleans(),
    frikort=st.booleans(),
)
def test_order_declared_then_patients_code_then_age_then_frikort(
    declared: ExemptionCode, patients: ExemptionCode | None, child: bool, frikort: bool
) -> None:
    born = date(2015, 1, 1) if child else date(1980, 1, 1)
    patient = Patient(id="p", birth_date=born, exemption=patients)
    day = date(2025, 9, 9)

    assert exemption_reason(patient, day, declared=declared, frikort_on_day=frikort) == declared
    undeclared = exemption_reason(patient, day, frikort_on_day=frikort)
    if patients is not None:
        assert undeclared == patients
    elif child:
        assert undeclared == ExemptionCode.UNDER_AGE
    elif frikort:
        assert undeclared == ExemptionCode.FRIKORT
    else:
        assert undeclared is None


def test_a_note_goes_on_the_charge_only_with_other() -> None:
    request = settle(
        oslo(2025, 9, 9), exemption=ExemptionCode.MILITARY_SERVICE, exemption_note="stray note"
    )
    outcome = decide_copayment(request, TEST_TABLE)
    assert (outcome.exemption, outcome.exemption_note) == (ExemptionCode.MILITARY_SERVICE, None)


# --- the age limit as dated data ----------------------------------------------------------


def test_the_shipped_age_limit_is_16_with_a_source() -> None:
    assert age_limit_on(date(2026, 9, 9)) == 16
    [row] = DEFAULT_AGE_LIMITS
    assert "https://" in row.source


def test_a_later_age_limit_row_changes_the_outcome_from_its_date_on() -> None:
    raised = CopaymentTable(
        tariffs=TEST_TARIFFS,
        age_limits=(
            *DEFAULT_AGE_LIMITS,
            AgeLimit(valid_from=date(2026, 8, 1), age_limit=18, source="test", confirmed=True),
        ),
    )
    seventeen = Patient(id="p-17", birth_date=date(2009, 1, 15))

    before = decide_copayment(settle(oslo(2026, 7, 31, 23, 59, 59), seventeen), raised)
    from_then = decide_copayment(settle(oslo(2026, 8, 1, 0, 0), seventeen), raised)

    assert before.status == CopaymentStatus.CHARGED
    assert (from_then.status, from_then.exemption) == (
        CopaymentStatus.EXEMPT,
        ExemptionCode.UNDER_AGE,
    )


def test_no_age_limit_before_the_first_row_is_refused() -> None:
    with pytest.raises(ValueError, match="no co-payment age limit"):
        age_limit_on(date(2019, 1, 1))


# --- the frikort of the start counts in its Oslo calendar year --------------------------


def test_a_start_flag_counts_within_the_same_oslo_year() -> None:
    assert start_frikort_counts(oslo(2026, 1, 1, 0, 0), oslo(2026, 12, 31, 23, 59, 59))


def test_a_start_flag_does_not_count_after_new_year_in_oslo() -> None:
    assert not start_frikort_counts(oslo(2026, 12, 31, 23, 59, 59), oslo(2027, 1, 1, 0, 0))


def test_23_30_utc_on_31_december_is_already_next_year_in_oslo() -> None:
    started = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    message = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January in Oslo
    assert not start_frikort_counts(started, message)
    assert start_frikort_counts(message, datetime(2027, 6, 1, tzinfo=UTC))


@given(
    started=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
)
def test_a_start_flag_counts_exactly_while_the_oslo_year_is_the_same(
    started: datetime, later: timedelta
) -> None:
    message = started + later
    same_year = started.astimezone(OSLO).year == message.astimezone(OSLO).year
    assert start_frikort_counts(started, message) == same_year


# --- outcomes -----------------------------------------------------------------------------


def test_a_settlement_of_an_old_history_for_a_non_billable_message_is_no_charge() -> None:
    outcome = decide_copayment(settle(oslo(2025, 9, 9), billable=False), TEST_TABLE)
    assert outcome.status == CopaymentStatus.NO_CHARGE
    assert (outcome.tariff, outcome.amount_nok) == (None, None)


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
