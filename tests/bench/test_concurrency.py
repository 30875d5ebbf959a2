"""bench.concurrency: where the throughput curve's knee is, and which points are swept."""

from __future__ import annotations

import pytest

from bench.concurrency import in_flight_steps, knee


def test_the_knee_is_the_fewest_in_flight_within_90_percent_of_the_best() -> None:
    rising_then_flat = {1: 3.0, 2: 5.8, 4: 9.1, 8: 11.6, 16: 12.4, 32: 12.1}

    # 0.9 x 12.4 = 11.16: 8 in flight is the first at or above it.
    assert knee(rising_then_flat) == 8


def test_a_line_still_rising_at_the_end_has_its_knee_at_the_end() -> None:
    assert knee({1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0}) == 8


def test_a_flat_line_has_its_knee_at_one_in_flight() -> None:
    assert knee({1: 10.0, 2: 10.2, 4: 9.8}) == 1


def test_the_fraction_of_the_best_can_be_chosen() -> None:
    rates = {1: 5.0, 2: 8.0, 4: 10.0}

    assert knee(rates, fraction=0.5) == 1
    assert knee(rates, fraction=1.0) == 4


def test_no_points_have_no_knee() -> None:
    with pytest.raises(ValueError, match="no points"):
        knee({})


def test_the_sweep_doubles_from_one_up_to_the_most_in_flight() -> None:
    assert in_flight_steps(32) == [1, 2, 4, 8, 16, 32]
    assert in_flight_steps(4) == [1, 2, 4]
    assert in_flight_steps(1) == [1]
