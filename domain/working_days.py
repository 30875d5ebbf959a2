"""Working-day calendar for reply deadlines; pure, no I/O.

A working day is Monday to Friday, except Norway's ten public holidays and the days the
practice has closed. The holidays are 1 January, 1 May, 17 May, 25 and 26 December, and the
Easter-bound Maundy Thursday, Good Friday, Easter Monday, Ascension Day and Whit Monday;
Christmas Eve and New Year's Eve are working days. A reply is due at 23:59:59 Oslo time on the
Nth working day after the Oslo day the patient's message arrived (that day never counts), and
the clinician is reminded at 08:00 Oslo time on the due day.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from holidays.countries.norway import Norway

OSLO: ZoneInfo = ZoneInfo("Europe/Oslo")

_END_OF_DAY = time(23, 59, 59)
_REMINDER_TIME = time(8, 0)

# The ten holidays a deadline skips, by name, so that a renamed or newly added entry in a
# future package version cannot silently move a deadline. The package also names Easter Sunday
# and Whit Sunday (and, if asked, every Sunday): those fall on Sundays, so they are left out.
# Names are the package's en_US names, pinned by asking for that language.
_SKIPPED_HOLIDAYS = frozenset(
    {
        "New Year's Day",
        "Maundy Thursday",
        "Good Friday",
        "Easter Monday",
        "Labor Day",
        "Constitution Day",
        "Ascension Day",
        "Pentecost Monday",
        "Christmas Day",
        "Second Day of Christmas",
    }
)


# Computed once at import, outside any workflow sandbox: the holidays package reads its
# translation files through gettext/locale, which the Temporal sandbox forbids at run time.
SUPPORTED_YEARS = range(1990, 2100)


def _load_public_holidays(years: range) -> frozenset[date]:
    """The ten Norwegian public holidays of each supported year, as the package dates them."""
    calendar = Norway(years=years, include_sundays=False, language="en_US")
    return frozenset(
        day for day in calendar if any(name in _SKIPPED_HOLIDAYS for name in calendar.get_list(day))
    )


class CalendarSelfCheckError(RuntimeError):
    """The holidays package no longer yields exactly the ten expected holidays for some year."""


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (Meeus/Jones/Butcher), computed here, not by the package."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own letter
    m = (a + 11 * h + 19 * l) // 433
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def expected_public_holidays(year: int) -> dict[date, str]:
    """The ten public holidays of `year` the deadlines must skip, by date."""
    easter = easter_sunday(year)
    return {
        date(year, 1, 1): "New Year's Day",
        easter - timedelta(days=3): "Maundy Thursday",
        easter - timedelta(days=2): "Good Friday",
        easter + timedelta(days=1): "Easter Monday",
        date(year, 5, 1): "Labour Day",
        date(year, 5, 17): "Constitution Day",
        easter + timedelta(days=39): "Ascension Day",
        easter + timedelta(days=50): "Whit Monday",
        date(year, 12, 25): "Christmas Day",
        date(year, 12, 26): "Boxing Day",
    }


def check_public_holidays(picked: Collection[date], years: range) -> None:
    """Fail loudly unless `picked` holds exactly the expected holidays of every year.

    A holiday on a Sunday moves no deadline, so Sundays are left out on both sides.
    """
    for year in years:
        expected = {
            day: name for day, name in expected_public_holidays(year).items() if day.weekday() != 6
        }
        got = {day for day in picked if day.year == year and day.weekday() != 6}
        missing = sorted(set(expected) - got)
        extra = sorted(got - set(expected))
        if missing or extra:
            raise CalendarSelfCheckError(
                f"public holidays of {year} differ from the expected ten: missing "
                f"{[f'{d.isoformat()} {expected[d]}' for d in missing]}, "
                f"extra {[d.isoformat() for d in extra]}"
            )


_PUBLIC_HOLIDAYS = _load_public_holidays(SUPPORTED_YEARS)
# A renamed entry in a later `holidays` release would silently drop a holiday and move every
# deadline; stop the process at import instead.
check_public_holidays(_PUBLIC_HOLIDAYS, SUPPORTED_YEARS)


def is_public_holiday(day: date) -> bool:
    """True on one of the ten Norwegian public holidays a deadline skips."""
    if day.year not in SUPPORTED_YEARS:
        raise ValueError(f"the calendar covers {SUPPORTED_YEARS.start}-{SUPPORTED_YEARS.stop - 1}")
    return day in _PUBLIC_HOLIDAYS


def is_working_day(day: date, closed_days: Collection[date] = ()) -> bool:
    """True on Monday to Friday that is neither a public holiday nor a practice closed day."""
    return day.weekday() < 5 and not is_public_holiday(day) and day not in closed_days


def add_working_days(start: date, n: int, closed_days: Collection[date] = ()) -> date:
    """The Nth working day strictly after `start`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    closed = frozenset(closed_days)
    day = start
    while n:
        day += timedelta(days=1)
        if is_working_day(day, closed):
            n -= 1
    return day


def oslo_day(instant: datetime) -> date:
    """Calendar day in Europe/Oslo of an aware datetime."""
    return _to_oslo(instant).date()


def _to_oslo(instant: datetime) -> datetime:
    """An aware datetime converted to Europe/Oslo; naive input is refused."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(OSLO)


def _oslo_instant(day: date, at: time) -> datetime:
    """Wall-clock time `at` on `day` in Europe/Oslo, as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=OSLO).astimezone(UTC)


def reply_due_at(
    submitted_at: datetime, working_days: int, closed_days: Collection[date] = ()
) -> datetime:
    """23:59:59 Oslo time on the Nth working day after the Oslo day of submission, in UTC."""
    due_day = add_working_days(oslo_day(submitted_at), working_days, closed_days)
    return _oslo_instant(due_day, _END_OF_DAY)


def reminder_at(reply_due_at: datetime) -> datetime:
    """08:00 Oslo time on the Oslo day of the deadline, in UTC."""
    return _oslo_instant(oslo_day(reply_due_at), _REMINDER_TIME)


def late_notice_at(reply_due_at: datetime) -> datetime:
    """08:00 Oslo time on the morning after the deadline, in UTC: the patient hears that the
    answer is late at a human hour, not at the deadline's 23:59:59."""
    return _oslo_instant(oslo_day(reply_due_at) + timedelta(days=1), _REMINDER_TIME)
