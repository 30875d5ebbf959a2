"""Ages on a day, the way the rules count them; pure, no I/O.

Someone born on 29 February reaches a new age on 1 March in common years: the day after
28 February, once the whole year has passed (docs/parties.md says why).
"""

from __future__ import annotations

from datetime import date


def birthday(birth_date: date, age: int) -> date:
    """The day a person born on `birth_date` reaches `age`."""
    year = birth_date.year + age
    try:
        return birth_date.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def age_on(birth_date: date, on_day: date) -> int:
    """Whole years reached by `on_day` (negative before the birth date)."""
    years = on_day.year - birth_date.year
    return years if on_day >= birthday(birth_date, years) else years - 1


def is_younger_than(birth_date: date, age: int, on_day: date) -> bool:
    """True until the day the person reaches `age`."""
    return on_day < birthday(birth_date, age)
