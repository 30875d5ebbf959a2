"""Ages across birthdays, 29 February included (docs/parties.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ages import age_on, birthday, is_younger_than

BIRTH_DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
AGES = st.integers(min_value=0, max_value=120)


@given(born=BIRTH_DATES, age=AGES)
def test_the_age_is_reached_on_the_birthday_and_not_the_day_before(born: date, age: int) -> None:
    reached = birthday(born, age)
    assert age_on(born, reached) == age
    if age > 0:
        assert age_on(born, reached - timedelta(days=1)) == age - 1
    assert not is_younger_than(born, age, reached)
    assert is_younger_than(born, age, reached - timedelta(days=1))


@given(born=BIRTH_DATES, days=st.integers(min_value=0, max_value=120 * 366))
def test_the_age_never_decreases_and_grows_by_at_most_one_a_day(born: date, days: int) -> None:
    day = born + timedelta(days=days)
    assert age_on(born, day) <= age_on(born, day + timedelta(days=1)) <= age_on(born, day) + 1


@given(born=BIRTH_DATES, age=AGES)
def test_a_birthday_is_the_same_day_and_month_or_1_march_for_29_february(
    born: date, age: int
) -> None:
    reached = birthday(born, age)
    assert reached.year == born.year + age
    if (born.month, born.day) == (2, 29) and reached.month != 2:
        assert (reached.month, reached.day) == (3, 1)
    else:
        assert (reached.month, reached.day) == (born.month, born.day)


@pytest.mark.parametrize(
    ("on_day", "age"),
    [
        (date(2021, 2, 28), 12),  # a common year: not yet 13
        (date(2021, 3, 1), 13),
        (date(2024, 2, 28), 15),
        (date(2024, 2, 29), 16),  # a leap year: the birthday itself
    ],
)
def test_a_29_february_child_turns_a_year_older_on_1_march_in_common_years(
    on_day: date, age: int
) -> None:
    assert age_on(date(2008, 2, 29), on_day) == age
