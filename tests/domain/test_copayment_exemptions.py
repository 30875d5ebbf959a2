"""Co-payment (egenandel) exemptions, the age limit and the frikort year (docs/copayment.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.copayment import (
    DEFAULT_AGE_LIMITS,
    AgeLimit,
    CopaymentTable,
    age_limit_on,
    decide_copayment,
    exemption_reason,
    start_frikort_counts,
)
from domain.models import CopaymentStatus
from domain.parties import ExemptionCode, Patient
from domain.working_days import OSLO
from tests.domain.copayment_support import ADULT, TEST_TABLE, TEST_TARIFFS, oslo, settle

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
