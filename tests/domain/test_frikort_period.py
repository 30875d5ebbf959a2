"""A frikort period lies within one calendar year (docs/copayment.md): the register refuses one
that runs from 31 December into 1 January, and one that ends before it starts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.parties import frikort_period_refusal


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        (date(2026, 12, 31), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 1)),
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 9, 1), date(2026, 12, 31)),
    ],
    ids=["31-december-alone", "1-january-alone", "whole-year", "rest-of-year"],
)
def test_a_period_within_one_year_is_recorded(valid_from: date, valid_to: date) -> None:
    assert frikort_period_refusal(valid_from, valid_to) is None


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        (date(2026, 12, 31), date(2027, 1, 1)),
        (date(2026, 9, 1), date(2027, 3, 1)),
        (date(2026, 1, 1), date(2028, 12, 31)),
    ],
    ids=["31-december-to-1-january", "september-to-march", "three-years"],
)
def test_a_period_into_another_year_is_refused_naming_the_rule(
    valid_from: date, valid_to: date
) -> None:
    refusal = frikort_period_refusal(valid_from, valid_to)
    assert refusal is not None
    assert "within one calendar year" in refusal
    assert f"ends by {valid_from.year}-12-31" in refusal


def test_a_period_ending_before_it_starts_is_refused() -> None:
    refusal = frikort_period_refusal(date(2027, 1, 1), date(2026, 12, 31))
    assert refusal == "valid_to must not be before valid_from"


@given(
    valid_from=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    days=st.integers(min_value=0, max_value=800),
)
def test_a_period_is_refused_exactly_when_it_leaves_its_first_year(
    valid_from: date, days: int
) -> None:
    valid_to = valid_from + timedelta(days=days)
    refused = frikort_period_refusal(valid_from, valid_to) is not None
    assert refused == (valid_to > date(valid_from.year, 12, 31))
