"""The soak's arithmetic: least-squares slopes per hour, relative to the mean, and the verdict."""

from __future__ import annotations

import pytest

from bench.replicas import nearest_rank, only_503_with_retry_after
from bench.soak import relative_slope, slope_per_hour, slopes


def test_a_straight_line_gives_its_slope_per_hour() -> None:
    minutes = [1.0, 2.0, 3.0, 4.0]
    assert slope_per_hour(minutes, [100.0, 101.0, 102.0, 103.0]) == pytest.approx(60.0)
    assert slope_per_hour(minutes, [5.0, 5.0, 5.0, 5.0]) == 0.0


def test_noise_around_a_flat_line_has_no_slope() -> None:
    assert slope_per_hour([1.0, 2.0, 3.0, 4.0], [10.0, 12.0, 12.0, 10.0]) == pytest.approx(0.0)


def test_the_slope_is_relative_to_the_mean() -> None:
    # 300 MB growing 0.5 MB a minute: 30 MB an hour, about 10 % of the mean.
    values = [300.0 + 0.5 * m for m in range(10)]
    assert relative_slope([float(m) for m in range(10)], values) == pytest.approx(
        100 * 30 / (300 + 0.5 * 4.5)
    )


def test_too_few_points_give_no_slope() -> None:
    assert slope_per_hour([3.0], [7.0]) == 0.0
    assert relative_slope([], []) == 0.0


def test_warm_up_minutes_are_left_out_and_each_figure_judged() -> None:
    samples = [
        {"minute": m, "worker-0 rss_mb": (500.0 if m == 1 else 300.0 + m), "p99_ms": 50.0}
        for m in range(1, 8)
    ]
    by_figure = {s["figure"]: s for s in slopes(samples, warmup=1)}
    # 1 MB a minute after the warm-up is 60 MB an hour on about 305 MB: over 10 %.
    assert by_figure["worker-0 rss_mb"]["slope_per_hour"] == pytest.approx(60.0)
    assert not by_figure["worker-0 rss_mb"]["met"]
    assert by_figure["p99_ms"]["met"]


def test_nearest_rank_and_the_5xx_target() -> None:
    assert nearest_rank([float(n) for n in range(1, 101)], 0.99) == 99.0
    assert nearest_rank([], 0.99) == 0.0
    assert only_503_with_retry_after({"503 urn:econsult:problem:unavailable with Retry-After": 3})
    assert not only_503_with_retry_after({"500 about:blank without Retry-After": 1})


def test_the_dev_servers_growth_is_shown_not_judged() -> None:
    samples = [{"minute": m, "temporal rss_mb": 200.0 + 10 * m} for m in range(1, 6)]
    (figure,) = slopes(samples, warmup=0)
    assert figure["percent_per_hour"] > 100
    assert figure["target_percent_per_hour"] is None
    assert figure["met"]


def test_a_count_may_step_up_by_a_few_an_hour() -> None:
    # 20 descriptors becoming 23 over the hour is 15 %/h, but only 3 more: a pool, not a leak.
    steady = [{"minute": m, "api-0 fds": 20.0 + 3 * m / 60} for m in range(0, 61)]
    (figure,) = slopes(steady, warmup=-1)
    assert figure["percent_per_hour"] > 10
    assert figure["met"]
    leaking = [{"minute": m, "api-0 fds": 20.0 + m} for m in range(0, 61)]
    (figure,) = slopes(leaking, warmup=-1)
    assert not figure["met"]


def test_one_step_is_not_a_leak_but_steady_growth_is() -> None:
    # A pool opens six more connections once, early, then holds: least squares sees growth,
    # the median of the pairwise slopes does not.
    stepped = [{"minute": m, "db_connections": 10.0 if m < 4 else 16.0} for m in range(3, 13)]
    (figure,) = slopes(stepped, warmup=2)
    assert figure["percent_per_hour"] > 10
    assert figure["median_slope_per_hour"] == 0.0
    assert figure["met"]
    growing = [{"minute": m, "db_connections": 10.0 + m} for m in range(3, 13)]
    (figure,) = slopes(growing, warmup=2)
    assert figure["median_slope_per_hour"] == pytest.approx(60.0)
    assert not figure["met"]
