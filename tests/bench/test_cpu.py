"""bench.cpu: a PostgreSQL backend that exits between readings cannot make its figure negative."""

from __future__ import annotations

import pytest

from bench.cpu import Reading, spent_between


def test_backends_are_counted_each_by_its_own_difference() -> None:
    earlier = Reading({"worker-0": 10.0}, {101: 5.0, 102: 3.0})
    # Backend 101 exited (its 5 s must not be subtracted); 103 is new (all of it counts).
    now = Reading({"worker-0": 12.5}, {102: 4.0, 103: 1.5})

    spent = spent_between(earlier, now)

    assert spent["worker-0"] == pytest.approx(2.5)
    assert spent["postgres"] == pytest.approx(1.0 + 1.5)
