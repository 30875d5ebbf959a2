"""Who may write for a patient, judged on the Oslo day of each message (docs/parties.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ages import birthday
from domain.parties import Patient, Representative, RepresentativeRelation
from domain.representatives import representative_refusal
from domain.working_days import oslo_day

PARENT = Representative(id="r-parent", relation=RepresentativeRelation.PARENT)
GUARDIAN = Representative(id="r-guardian", relation=RepresentativeRelation.GUARDIAN)
ADULT_HOLDER_BORN = date(1970, 5, 5)

BIRTH_DATES = st.dates(min_value=date(1920, 1, 1), max_value=date(2080, 12, 31))
# 29 February births, drawn often: the day their birthdays move.
LEAP_BIRTH_DATES = st.sampled_from([date(y, 2, 29) for y in range(1924, 2081, 4)])
ANY_BIRTH_DATE = BIRTH_DATES | LEAP_BIRTH_DATES


def patient(born: date) -> Patient:
    return Patient(id="p-1", birth_date=born)


def attorney(holder_born: date | None = ADULT_HOLDER_BORN) -> Representative:
    return Representative(
        id="r-attorney", relation=RepresentativeRelation.POWER_OF_ATTORNEY, birth_date=holder_born
    )


def next_of_kin(holder_born: date | None = ADULT_HOLDER_BORN) -> Representative:
    return Representative(
        id="r-next-of-kin", relation=RepresentativeRelation.NEXT_OF_KIN, birth_date=holder_born
    )


def allowed(born: date, representative: Representative, on_day: date) -> bool:
    return representative_refusal(patient(born), representative, on_day) is None


def allowed_as_recorded(born: date, representative: Representative, on_day: date) -> bool:
    """As the workflow judges a command it took before (under its lock and on replay)."""
    refusal = representative_refusal(patient(born), representative, on_day, recorded=True)
    return refusal is None


# --- parent: a child under 12 only --------------------------------------------------------


@given(born=ANY_BIRTH_DATE)
def test_a_parent_writes_the_day_before_the_12th_birthday_and_not_on_it(born: date) -> None:
    twelfth = birthday(born, 12)
    assert allowed(born, PARENT, twelfth - timedelta(days=1))
    refusal = representative_refusal(patient(born), PARENT, twelfth)
    assert refusal is not None
    assert "a parent may write only for a child under 12" in refusal
    assert f"(judged on {twelfth.isoformat()})" in refusal


@given(born=ANY_BIRTH_DATE, days=st.integers(min_value=0, max_value=110 * 366))
def test_a_parent_is_allowed_exactly_before_the_12th_birthday(born: date, days: int) -> None:
    on_day = born + timedelta(days=days)
    assert allowed(born, PARENT, on_day) == (on_day < birthday(born, 12))


@pytest.mark.parametrize(
    ("born", "representative", "last_allowed", "first_refused"),
    [
        # 12 years after a leap year is a leap year, except across 2100 (a common year).
        (date(2016, 2, 29), PARENT, date(2028, 2, 28), date(2028, 2, 29)),
        (date(2088, 2, 29), PARENT, date(2100, 2, 28), date(2100, 3, 1)),
    ],
    ids=["parent-leap-year", "parent-2100"],
)
def test_a_29_february_birth_reaches_its_age_on_the_day_or_on_1_march(
    born: date, representative: Representative, last_allowed: date, first_refused: date
) -> None:
    assert allowed(born, representative, last_allowed)
    assert not allowed(born, representative, first_refused)


def test_a_29_february_patient_turns_18_on_1_march_in_a_common_year() -> None:
    born = date(2008, 2, 29)
    assert not allowed_as_recorded(born, GUARDIAN, date(2026, 2, 28))
    assert allowed_as_recorded(born, GUARDIAN, date(2026, 3, 1))


# --- power of attorney: given at 16 or more, held at 18 or more --------------------------


def test_a_power_of_attorney_without_the_holders_birth_date_is_refused() -> None:
    refusal = representative_refusal(patient(date(1980, 1, 1)), attorney(None), date(2027, 3, 1))
    assert refusal == "a power of attorney needs the holder's birth_date (judged on 2027-03-01)"


@given(born=ANY_BIRTH_DATE, days=st.integers(min_value=0, max_value=110 * 366))
def test_a_power_of_attorney_exists_only_from_the_patients_16th_birthday(
    born: date, days: int
) -> None:
    on_day = born + timedelta(days=days)
    holder_born = date(on_day.year - 40, 1, 1)
    refusal = representative_refusal(patient(born), attorney(holder_born), on_day)
    if on_day < birthday(born, 16):
        assert refusal is not None and "aged 16 or more; none exists for a child" in refusal
    else:
        assert refusal is None


@given(holder_born=ANY_BIRTH_DATE)
def test_the_holder_of_a_power_of_attorney_must_be_18_on_the_day(holder_born: date) -> None:
    eighteenth = birthday(holder_born, 18)
    adult_patient = date(holder_born.year - 30, 1, 1)
    assert allowed(adult_patient, attorney(holder_born), eighteenth)
    refusal = representative_refusal(
        patient(adult_patient), attorney(holder_born), eighteenth - timedelta(days=1)
    )
    assert refusal is not None and "must be 18 or older" in refusal


def test_a_29_february_holder_turns_18_on_1_march_in_a_common_year() -> None:
    adult = date(1960, 1, 1)
    assert not allowed(adult, attorney(date(2008, 2, 29)), date(2026, 2, 28))
    assert allowed(adult, attorney(date(2008, 2, 29)), date(2026, 3, 1))


# --- next of kin: the patient 12 or more, the next of kin 18 or more --------------------


@given(born=ANY_BIRTH_DATE)
def test_a_next_of_kin_writes_from_the_patients_12th_birthday_and_not_the_day_before(
    born: date,
) -> None:
    twelfth = birthday(born, 12)
    holder = next_of_kin(date(born.year - 30, 1, 1))
    assert allowed(born, holder, twelfth)
    refusal = representative_refusal(patient(born), holder, twelfth - timedelta(days=1))
    assert refusal is not None
    assert "a next of kin may write only for a patient aged 12 or more" in refusal
    assert f"(judged on {(twelfth - timedelta(days=1)).isoformat()})" in refusal


@given(holder_born=ANY_BIRTH_DATE)
def test_a_next_of_kin_writes_from_their_own_18th_birthday_and_not_the_day_before(
    holder_born: date,
) -> None:
    eighteenth = birthday(holder_born, 18)
    adult_patient = date(holder_born.year - 30, 1, 1)
    assert allowed(adult_patient, next_of_kin(holder_born), eighteenth)
    refusal = representative_refusal(
        patient(adult_patient), next_of_kin(holder_born), eighteenth - timedelta(days=1)
    )
    assert refusal is not None and "a next of kin writing for a patient must be 18" in refusal


@given(born=ANY_BIRTH_DATE, days=st.integers(min_value=0, max_value=110 * 366))
def test_a_next_of_kin_writes_for_a_patient_of_12_or_more_at_any_age_after(
    born: date, days: int
) -> None:
    on_day = born + timedelta(days=days)
    holder_born = date(on_day.year - 40, 1, 1)
    assert allowed(born, next_of_kin(holder_born), on_day) == (on_day >= birthday(born, 12))


def test_a_next_of_kin_of_a_fourteen_year_old_is_allowed() -> None:
    # The case the guardian rule refused: a 14-year-old who lacks the competence to consent.
    assert allowed(date(2013, 5, 1), next_of_kin(), date(2027, 6, 1))


def test_a_next_of_kin_without_a_birth_date_is_refused() -> None:
    refusal = representative_refusal(patient(date(1980, 1, 1)), next_of_kin(None), date(2027, 3, 1))
    assert refusal == "a next of kin needs their birth_date (judged on 2027-03-01)"


def test_a_29_february_patient_may_have_a_next_of_kin_from_1_march_at_12() -> None:
    born = date(2012, 2, 29)
    assert allowed(born, next_of_kin(), date(2024, 2, 29))  # 2024 is a leap year
    born = date(2008, 2, 29)
    assert not allowed(born, next_of_kin(), date(2020, 2, 28))
    assert allowed(born, next_of_kin(), date(2020, 2, 29))


# --- guardian: retired for new messages, its old rule kept for recorded ones ------------


@given(born=ANY_BIRTH_DATE, days=st.integers(min_value=0, max_value=110 * 366))
def test_a_guardian_is_refused_on_every_new_message_naming_the_rule(born: date, days: int) -> None:
    on_day = born + timedelta(days=days)
    refusal = representative_refusal(patient(born), GUARDIAN, on_day)
    assert refusal is not None
    assert refusal.startswith("guardianship is no longer a basis")
    assert "the nearest next of kin of a patient lacking the competence to consent" in refusal
    assert refusal.endswith(f"(judged on {on_day.isoformat()})")


@given(born=ANY_BIRTH_DATE, days=st.integers(min_value=0, max_value=110 * 366))
def test_a_recorded_guardians_command_is_judged_by_the_rule_it_was_taken_under(
    born: date, days: int
) -> None:
    on_day = born + timedelta(days=days)
    expected = on_day < birthday(born, 12) or on_day >= birthday(born, 18)
    assert allowed_as_recorded(born, GUARDIAN, on_day) == expected


@pytest.mark.parametrize(
    "representative",
    [PARENT, Representative(id="r", relation=RepresentativeRelation.NEXT_OF_KIN)],
    ids=["parent", "next-of-kin-without-birth-date"],
)
def test_recorded_or_new_only_the_guardian_differs(representative: Representative) -> None:
    for born, on_day in [
        (date(2020, 1, 1), date(2027, 1, 1)),
        (date(1980, 1, 1), date(2027, 1, 1)),
    ]:
        assert allowed(born, representative, on_day) == allowed_as_recorded(
            born, representative, on_day
        )


def test_no_representative_is_never_refused() -> None:
    assert representative_refusal(patient(date(2020, 1, 1)), None, date(2027, 1, 1)) is None


# --- the day is the Oslo day: the rule flips at Oslo midnight, not UTC midnight ----------


@pytest.mark.parametrize(
    ("born", "last_allowed", "first_refused"),
    [
        # Winter time (UTC+1): Oslo midnight of 10 January 2027 is 23:00 UTC on the 9th.
        (
            date(2015, 1, 10),
            datetime(2027, 1, 9, 22, 59, 59, tzinfo=UTC),
            datetime(2027, 1, 9, 23, 0, 0, tzinfo=UTC),
        ),
        # Summer time (UTC+2): Oslo midnight of 10 June 2027 is 22:00 UTC on the 9th.
        (
            date(2015, 6, 10),
            datetime(2027, 6, 9, 21, 59, 59, tzinfo=UTC),
            datetime(2027, 6, 9, 22, 0, 0, tzinfo=UTC),
        ),
    ],
    ids=["winter", "summer"],
)
def test_a_parent_is_refused_from_oslo_midnight_of_the_12th_birthday(
    born: date, last_allowed: datetime, first_refused: datetime
) -> None:
    assert last_allowed.date() == first_refused.date()  # still the same UTC day
    assert oslo_day(last_allowed) == birthday(born, 12) - timedelta(days=1)
    assert oslo_day(first_refused) == birthday(born, 12)

    assert allowed(born, PARENT, oslo_day(last_allowed))
    assert not allowed(born, PARENT, oslo_day(first_refused))
