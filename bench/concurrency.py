"""Throughput against concurrency: lifecycles/s through the API and the naive anchor.

The same lifecycles as the lifecycle figure (bench/lifecycle.py, the same drivers on the
same stack), at 1, 2, 4, ... in flight up to the largest asked for. At each point both
sides run max(min_lifecycles, lifecycles_per_in_flight x in flight) lifecycles, the API
first; each point's figure is the median of `repeats` runs, each run a pass over every point
(so slow drift on a shared machine spreads over all points instead of bending the curve).

The knee (`knee`): the smallest concurrency whose throughput is at least 90 % of the best
measured on that side. Past it, more in flight buys little more throughput, only queueing:
with a closed loop, latency grows with the number in flight once the machine is saturated.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping
from typing import Any

from bench.lifecycle import Lifecycle, open_drivers, run_bounded, warm_up
from bench.progress import progress
from bench.stack import Stack

KNEE_FRACTION = 0.9
SIDES = ("api", "naive")


def knee(per_s: Mapping[int, float], fraction: float = KNEE_FRACTION) -> int:
    """The smallest concurrency whose throughput is at least `fraction` of the best one's."""
    if not per_s:
        raise ValueError("no points to find a knee in")
    best = max(per_s.values())
    return min(in_flight for in_flight, rate in per_s.items() if rate >= fraction * best)


def in_flight_steps(most: int) -> list[int]:
    """1, 2, 4, ... up to `most` (32 gives six steps)."""
    return [2**power for power in range(most.bit_length())]


async def _sweep(stack: Stack, lifecycles: Mapping[int, int], repeats: int) -> dict[str, Any]:
    most = max(lifecycles)
    rates: dict[str, dict[int, list[float]]] = {side: {c: [] for c in lifecycles} for side in SIDES}
    async with open_drivers(stack, most) as drivers:
        sides: dict[str, Lifecycle] = {"api": drivers.api, "naive": drivers.naive}
        await warm_up(sides.values(), most)
        for run in range(1, repeats + 1):
            for in_flight, n in lifecycles.items():
                for side, lifecycle in sides.items():
                    progress(f"sweep run {run}/{repeats}: {n} {side}, {in_flight} in flight")
                    seconds, _ = await run_bounded(lifecycle, n, in_flight)
                    rates[side][in_flight].append(n / seconds)
    medians = {side: {c: statistics.median(r) for c, r in rates[side].items()} for side in SIDES}
    return {
        "repeats": repeats,
        "knee_fraction": KNEE_FRACTION,
        "knee": {side: knee(medians[side]) for side in SIDES},
        "points": [
            {
                "in_flight": in_flight,
                "lifecycles": n,
                **{f"{side}_per_s": round(medians[side][in_flight], 3) for side in SIDES},
                **{f"{side}_runs": [round(r, 3) for r in rates[side][in_flight]] for side in SIDES},
            }
            for in_flight, n in lifecycles.items()
        ],
    }


def measure(
    stack: Stack, most_in_flight: int, min_lifecycles: int, per_in_flight: int, repeats: int
) -> dict[str, Any]:
    """Lifecycles/s of the API and the naive anchor at each step, and each side's knee."""
    lifecycles = {
        in_flight: max(min_lifecycles, per_in_flight * in_flight)
        for in_flight in in_flight_steps(most_in_flight)
    }
    return asyncio.run(_sweep(stack, lifecycles, repeats))
