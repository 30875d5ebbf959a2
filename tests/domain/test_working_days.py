"""Working-day calendar and reply deadline (docs/deadlines.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.working_days import (
    OSLO,
    CalendarSelfCheckError,
    add_working_days,
    check_public_holidays,
    easter_sunday,
    expected_public_holidays,
    is_public_holiday,
    is_working_day,
    oslo_day,
    reminder_at,
    reply_due_at,
)


def oslo(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An aware Oslo wall-clock instant."""
    return datetime(year, month, day, hour, minute, tzinfo=OSLO)


def end_of_oslo_day(day: date) -> datetime:
    """23:59:59 Oslo time on `day`."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=OSLO)


# --- docs/deadlines.md worked examples (N = 5) ---------------------------------------------


@pytest.mark.parametrize(
    ("submitted_on", "due_on", "due_utc"),
    [
        pytest.param(
            date(2026, 3, 27),
            date(2026, 4, 8),
            datetime(2026, 4, 8, 21, 59, 59, tzinfo=UTC),
            id="fri-2026-03-27-easter-and-dst-start",
        ),
        pytest.param(
            date(2026, 12, 23),
            date(2026, 12, 31),
            datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC),
            id="wed-2026-12-23-christmas-eve-counts",
        ),
        pytest.param(
            date(2027, 3, 24),
            date(2027, 4, 5),
            datetime(2027, 4, 5, 21, 59, 59, tzinfo=UTC),
            id="wed-2027-03-24-easter",
        ),
        pytest.param(
            date(2027, 5, 12),
            date(2027, 5, 20),
            datetime(2027, 5, 20, 21, 59, 59, tzinfo=UTC),
            id="wed-2027-05-12-constitution-day-and-whit-monday",
        ),
        pytest.param(
            date(2026, 12, 31),
            date(2027, 1, 8),
            datetime(2027, 1, 8, 22, 59, 59, tzinfo=UTC),
            id="thu-2026-12-31-new-years-day",
        ),
    ],
)
def test_spec_worked_example_due_at_end_of_nth_working_day(
    submitted_on: date, due_on: date, due_utc: datetime
) -> None:
    submitted_at = datetime.combine(submitted_on, time(12), tzinfo=OSLO)
    due = reply_due_at(submitted_at, 5)
    assert due == end_of_oslo_day(due_on)
    assert due.astimezone(OSLO).replace(tzinfo=None) == datetime.combine(due_on, time(23, 59, 59))
    assert due == due_utc
    assert due.tzinfo is UTC
    assert add_working_days(submitted_on, 5) == due_on


# --- public holidays ----------------------------------------------------------------------


def test_public_holidays_are_exactly_the_spec_list_2026() -> None:
    expected = {
        date(2026, 1, 1),  # New Year's Day
        date(2026, 4, 2),  # Maundy Thursday
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),  # Labour Day
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 17),  # Constitution Day (a Sunday this year)
        date(2026, 5, 25),  # Whit Monday
        date(2026, 12, 25),
        date(2026, 12, 26),
    }
    year = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert {day for day in year if is_public_holiday(day)} == expected


# --- calendar self-check: the holidays package against an independent computation -------

CHECKED_YEARS = range(2026, 2041)


def _picked(years: range) -> set[date]:
    """The holidays the calendar uses, read back day by day (Sundays left to the check)."""
    days = (date(years.start, 1, 1) + timedelta(days=i) for i in range(366 * len(years)))
    return {day for day in days if day.year in years and is_public_holiday(day)}


def test_calendar_self_check_passes_for_2026_to_2040() -> None:
    picked = _picked(CHECKED_YEARS)
    check_public_holidays(picked, CHECKED_YEARS)
    for year in CHECKED_YEARS:
        weekday_holidays = {d for d in expected_public_holidays(year) if d.weekday() != 6}
        assert {d for d in picked if d.year == year and d.weekday() != 6} == weekday_holidays


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2026, date(2026, 4, 5)), (2027, date(2027, 3, 28)), (2038, date(2038, 4, 25))],
)
def test_independent_easter_matches_known_dates(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_calendar_self_check_fails_on_a_holiday_list_missing_ascension_day() -> None:
    doctored = _picked(CHECKED_YEARS) - {date(2031, 5, 22)}  # Ascension Day 2031, a Thursday
    with pytest.raises(CalendarSelfCheckError, match=r"2031.*2031-05-22 Ascension Day"):
        check_public_holidays(doctored, CHECKED_YEARS)


def test_calendar_self_check_fails_on_an_extra_holiday() -> None:
    doctored = _picked(CHECKED_YEARS) | {date(2030, 12, 24)}  # Christmas Eve is a working day
    with pytest.raises(CalendarSelfCheckError, match=r"2030.*extra \['2030-12-24'\]"):
        check_public_holidays(doctored, CHECKED_YEARS)


def test_constitution_day_coinciding_with_whit_monday_is_a_holiday_2027() -> None:
    assert is_public_holiday(date(2027, 5, 17))
    assert not is_working_day(date(2027, 5, 17))


def test_plain_sunday_is_not_a_public_holiday() -> None:
    assert not is_public_holiday(date(2026, 3, 22))


def test_easter_sunday_and_whit_sunday_are_not_in_the_spec_list() -> None:
    # Decision: docs/deadlines.md's list is binding; both are Sundays, so no deadline changes.
    assert not is_public_holiday(date(2026, 4, 5))
    assert not is_public_holiday(date(2026, 5, 24))
    assert not is_working_day(date(2026, 4, 5))


@pytest.mark.parametrize("day", [date(2026, 12, 24), date(2026, 12, 31)], ids=["eve", "nye"])
def test_christmas_eve_and_new_years_eve_are_working_days(day: date) -> None:
    assert not is_public_holiday(day)
    assert is_working_day(day)


# --- working days -------------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2026, 3, 28), date(2026, 3, 29)], ids=["sat", "sun"])
def test_weekend_is_not_a_working_day(day: date) -> None:
    assert not is_working_day(day)


def test_practice_closed_day_is_not_a_working_day() -> None:
    assert is_working_day(date(2026, 3, 30))
    assert not is_working_day(date(2026, 3, 30), closed_days=[date(2026, 3, 30)])


def test_practice_closed_days_shift_the_deadline() -> None:
    submitted_at = oslo(2026, 3, 27)
    closed = {date(2026, 3, 30), date(2026, 4, 8)}
    assert reply_due_at(submitted_at, 5, closed) == end_of_oslo_day(date(2026, 4, 10))


def test_practice_closing_christmas_eve_shifts_the_deadline() -> None:
    due = reply_due_at(oslo(2026, 12, 23), 5, closed_days=(date(2026, 12, 24),))
    assert due == end_of_oslo_day(date(2027, 1, 4))


def test_closed_day_on_a_weekend_or_holiday_changes_nothing() -> None:
    closed = [date(2026, 3, 28), date(2026, 4, 3)]
    assert reply_due_at(oslo(2026, 3, 27), 5, closed) == end_of_oslo_day(date(2026, 4, 8))


@pytest.mark.parametrize("n", [0, -1])
def test_add_working_days_refuses_n_below_one(n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        add_working_days(date(2026, 3, 27), n)


def test_submission_day_never_counts_even_if_a_working_day() -> None:
    assert add_working_days(date(2026, 3, 30), 1) == date(2026, 3, 31)


def test_submission_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert add_working_days(date(2026, 4, 3), 1) == date(2026, 4, 7)


def test_deadline_uses_the_clinicians_working_day_count() -> None:
    assert reply_due_at(oslo(2026, 3, 27), 1) == end_of_oslo_day(date(2026, 3, 30))
    assert reply_due_at(oslo(2026, 3, 27), 10) == end_of_oslo_day(date(2026, 4, 15))


# --- Oslo calendar day --------------------------------------------------------------------


def test_late_evening_oslo_submission_counts_from_the_oslo_day() -> None:
    # 23:30 Oslo on Friday 27 March (CET) is 22:30 UTC, still Friday in Oslo.
    submitted_at = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)
    assert oslo_day(submitted_at) == date(2026, 3, 27)
    assert reply_due_at(submitted_at, 5) == end_of_oslo_day(date(2026, 4, 8))


def test_just_after_oslo_midnight_counts_from_the_next_oslo_day() -> None:
    # 23:30 UTC on Thursday is 00:30 on Friday in Oslo: the Oslo day, not the UTC day, counts.
    submitted_at = datetime(2026, 3, 26, 23, 30, tzinfo=UTC)
    assert oslo_day(submitted_at) == date(2026, 3, 27)
    assert reply_due_at(submitted_at, 5) == end_of_oslo_day(date(2026, 4, 8))


def test_summer_time_submission_after_22_utc_is_the_next_oslo_day() -> None:
    submitted_at = datetime(2026, 6, 15, 22, 30, tzinfo=UTC)  # 00:30 CEST on Tuesday 16 June
    assert oslo_day(submitted_at) == date(2026, 6, 16)


def test_oslo_day_accepts_any_aware_timezone() -> None:
    # 19:30 in New York on Friday 27 March is 00:30 on Saturday in Oslo.
    new_york = datetime(2026, 3, 27, 19, 30, tzinfo=ZoneInfo("America/New_York"))
    assert oslo_day(new_york) == date(2026, 3, 28)


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: oslo_day(naive),
        lambda naive: reply_due_at(naive, 5),
        lambda naive: reminder_at(naive),
    ],
    ids=["oslo_day", "reply_due_at", "reminder_at"],
)
def test_naive_datetimes_are_refused(call: Callable[[datetime], object]) -> None:
    with pytest.raises(ValueError, match="aware"):
        call(datetime(2026, 3, 27, 12, 0))


# --- daylight saving time -----------------------------------------------------------------


def test_deadline_across_dst_end_is_23_59_59_winter_time() -> None:
    due = reply_due_at(oslo(2026, 10, 23), 1)  # clocks go back on Sunday 25 October
    assert due == datetime(2026, 10, 26, 22, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "submitted_at",
    [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)],
    ids=["first-02:30-cest", "second-02:30-cet"],
)
def test_submission_in_the_repeated_dst_hour_counts_from_that_sunday(
    submitted_at: datetime,
) -> None:
    assert oslo_day(submitted_at) == date(2026, 10, 25)
    assert reply_due_at(submitted_at, 1) == datetime(2026, 10, 26, 22, 59, 59, tzinfo=UTC)


def test_submission_on_dst_start_night_counts_from_that_sunday() -> None:
    submitted_at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, just after the gap
    assert oslo_day(submitted_at) == date(2026, 3, 29)
    assert reply_due_at(submitted_at, 1) == datetime(2026, 3, 30, 21, 59, 59, tzinfo=UTC)


# --- reminder -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (datetime(2026, 4, 8, 21, 59, 59, tzinfo=UTC), datetime(2026, 4, 8, 6, 0, tzinfo=UTC)),
        (datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC), datetime(2026, 12, 31, 7, 0, tzinfo=UTC)),
    ],
    ids=["summer-time", "winter-time"],
)
def test_reminder_is_08_00_oslo_on_the_due_day(due: datetime, expected: datetime) -> None:
    reminder = reminder_at(due)
    assert reminder == expected
    assert reminder.tzinfo is UTC
    assert reminder.astimezone(OSLO).time() == time(8, 0)


# --- properties ---------------------------------------------------------------------------

submission_instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31, 23, 59), timezones=st.just(UTC)
)
working_day_counts = st.integers(min_value=1, max_value=15)
closed_day_offsets = st.sets(st.integers(min_value=-3, max_value=40), max_size=12)


def working_days_between(after: date, through: date, closed: set[date]) -> int:
    """Count working days in (after, through]."""
    span = (through - after).days
    days = (after + timedelta(days=i) for i in range(1, span + 1))
    return sum(1 for day in days if is_working_day(day, closed))


@given(submitted_at=submission_instants, n=working_day_counts, offsets=closed_day_offsets)
def test_property_due_day_is_exactly_n_working_days_after_submission(
    submitted_at: datetime, n: int, offsets: set[int]
) -> None:
    submitted_on = oslo_day(submitted_at)
    closed = {submitted_on + timedelta(days=offset) for offset in offsets}
    due = reply_due_at(submitted_at, n, closed)
    due_on = oslo_day(due)
    assert due_on > submitted_on
    assert is_working_day(due_on, closed)
    assert working_days_between(submitted_on, due_on, closed) == n
    assert due.astimezone(OSLO).time() == time(23, 59, 59)
    assert due.tzinfo is UTC


@given(submitted_at=submission_instants, n=working_day_counts)
def test_property_reminder_falls_on_the_due_day_before_the_deadline(
    submitted_at: datetime, n: int
) -> None:
    due = reply_due_at(submitted_at, n)
    reminder = reminder_at(due)
    assert oslo_day(reminder) == oslo_day(due)
    assert reminder < due
    assert reminder.astimezone(OSLO).time() == time(8, 0)
