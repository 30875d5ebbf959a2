"""Soak: the production shape (two APIs, two workers) at a steady rate for an hour, sampled
each minute, so that slow growth (memory, file descriptors, database connections, latency)
shows before a region finds it.

`python -m bench.soak --minutes N` (or `make soak`, 60 minutes). A new consultation starts
every 1/rate seconds (default 2 a second, open loop: arrivals do not wait for answers), each
a full lifecycle through the spreading client of bench/replicas.py: created with a message,
the clinician's reply, the patient's reply, closed, with 1-4 s of thinking between steps.
At the end of each minute: RSS and open file descriptors of each worker, API and the
Temporal dev server, connections to the case store's database (pg_stat_activity), and the
p99 of the minute's commands (first attempt to answer). After the warm-up, the least-squares
slope of each figure per hour, relative to its mean, is held against its target (SLOPE_TARGETS,
SLOPE_FLOORS), and so is the median of the pairwise slopes (Theil-Sen): a figure misses only
when both exceed it, as a steady leak makes them, where one step or spike moves only the first;
the exit status is 1 when one is exceeded, or when a command was refused or given up.
Figures to stdout and bench/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness_run import compile_bytecode, rss_mb
from bench.replicas import (
    REQUEST_TIMEOUT_SECONDS,
    ReplicaStack,
    SpreadClient,
    Tally,
    lifecycle,
    nearest_rank,
    open_fds,
    replica_stack,
)

RESULTS = Path(__file__).with_name("soak.json")
PROCESSES = ("worker-0", "worker-1", "api-0", "api-1", "temporal")
THINK_SECONDS = (1.0, 4.0)
SAMPLE_EVERY_SECONDS = 60.0
DRAIN_WITHIN_SECONDS = 120.0
# Growth allowed per hour after the warm-up, in % of the figure's mean over that time. A
# process that holds steady traffic steadily grows by less than its noise; a leak of one
# object per request grows RSS by several % an hour at 2 consultations a second. The p99 is
# noisier (and the machine shared), so it may drift more.
SLOPE_TARGETS = {"rss_mb": 10.0, "fds": 10.0, "db_connections": 10.0, "p99_ms": 50.0}
# Small counts move in whole steps (a pool opens one more connection, and a descriptor with
# it): growth up to this many per hour passes whatever its percentage. A leak of one per
# consultation would be 7,200 an hour.
SLOPE_FLOORS = {"fds": 5.0, "db_connections": 5.0}
# Shown, not judged: the dev server keeps every history in its SQLite file (no retention runs
# within an hour), which is not how a region's Temporal holds them.
UNJUDGED_PROCESSES = ("temporal",)
# Fewer samples after the warm-up than this: slopes are printed, not judged (a few minutes'
# noise extrapolated to an hour says nothing).
MIN_SAMPLES_TO_JUDGE = 10


def slope_per_hour(minutes: list[float], values: list[float]) -> float:
    """Least-squares slope of `values` over `minutes`, per hour (0 for fewer than 2 points)."""
    if len(minutes) < 2:
        return 0.0
    mean_x, mean_y = statistics.fmean(minutes), statistics.fmean(values)
    spread = sum((x - mean_x) ** 2 for x in minutes)
    if spread == 0:
        return 0.0
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(minutes, values, strict=True))
    return covariance / spread * 60.0


def median_slope_per_hour(minutes: list[float], values: list[float]) -> float:
    """Theil-Sen: the median of the slopes between every two samples, per hour. One step (a
    pool opening connections once) or one spike moves it little; a steady leak moves it as
    much as the least-squares slope."""
    pairs = [
        (values[j] - values[i]) / (minutes[j] - minutes[i])
        for i in range(len(minutes))
        for j in range(i + 1, len(minutes))
        if minutes[j] != minutes[i]
    ]
    return statistics.median(pairs) * 60.0 if pairs else 0.0


def relative_slope(minutes: list[float], values: list[float]) -> float:
    """The slope per hour in % of the values' mean (0 when the mean is 0)."""
    mean = statistics.fmean(values) if values else 0.0
    return 100.0 * slope_per_hour(minutes, values) / mean if mean else 0.0


def sample(stack: ReplicaStack, tally: Tally, minute: int, since: float) -> dict[str, Any]:
    now = time.monotonic()
    pids = stack.processes.pids
    latencies = [seconds for answered, seconds in tally.commands if since <= answered < now]
    failed = [a for a in tally.attempts if since <= a.answered < now and not a.ok]
    row: dict[str, Any] = {"minute": minute}
    for name in PROCESSES:
        row[f"{name} rss_mb"] = round(rss_mb(pids[name])[0], 1)
        row[f"{name} fds"] = open_fds(pids[name])
    row["db_connections"] = stack.database_connections()
    row["commands"] = len(latencies)
    row["p99_ms"] = round(nearest_rank(latencies, 0.99) * 1000, 1)
    row["failed_attempts"] = len(failed)
    return row


def series_of(samples: list[dict[str, Any]]) -> list[str]:
    return [key for key in samples[0] if key not in ("minute", "commands", "failed_attempts")]


def floor_of(series: str) -> float:
    return SLOPE_FLOORS.get(series.rsplit(" ", 1)[-1], 0.0)


def target_of(series: str) -> float | None:
    if series.split(" ", 1)[0] in UNJUDGED_PROCESSES:
        return None
    return SLOPE_TARGETS[series.rsplit(" ", 1)[-1]]


def within(series: str, per_hour: float, percent: float) -> bool:
    """Whether a slope meets the figure's target (or its floor, or the figure is not judged)."""
    target = target_of(series)
    return target is None or percent <= target or per_hour <= floor_of(series)


def slopes(samples: list[dict[str, Any]], warmup: int) -> list[dict[str, Any]]:
    """Per figure, over the samples after the warm-up: mean, slope per hour, % per hour."""
    kept = [s for s in samples if s["minute"] > warmup]
    if not kept:
        return []
    minutes = [float(s["minute"]) for s in kept]
    figures = []
    for series in series_of(kept):
        values = [float(s[series]) for s in kept]
        mean = statistics.fmean(values)
        relative = relative_slope(minutes, values)
        per_hour = slope_per_hour(minutes, values)
        median = median_slope_per_hour(minutes, values)
        median_relative = 100.0 * median / mean if mean else 0.0
        target = target_of(series)

        figures.append(
            {
                "figure": series,
                "mean": round(mean, 1),
                "slope_per_hour": round(per_hour, 2),
                "percent_per_hour": round(relative, 1),
                "median_slope_per_hour": round(median, 2),
                "median_percent_per_hour": round(median_relative, 1),
                "target_percent_per_hour": target,
                # Missed only when both slopes say so: a leak grows steadily.
                "met": within(series, per_hour, relative)
                or within(series, median, median_relative),
            }
        )
    return figures


def table(samples: list[dict[str, Any]]) -> str:
    columns = list(samples[0])
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(str(s[c]) for c in columns) for s in samples]
    return "\n".join(lines)


async def run(minutes: int, rate: float) -> dict[str, Any]:
    async with replica_stack() as stack:
        tally = Tally()
        started = time.monotonic()
        ends = started + minutes * 60.0
        print(f"soak: {rate} consultations/s for {minutes} min, 2 APIs, 2 workers", flush=True)
        samples: list[dict[str, Any]] = []
        finished: list[str | None] = []
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            client = SpreadClient(http, stack.api_urls, tally)
            running: set[asyncio.Task[str | None]] = set()

            def done(task: asyncio.Task[str | None]) -> None:
                running.discard(task)
                failed = task.cancelled() or task.exception() is not None
                finished.append(None if failed else task.result())

            async def arrivals() -> None:
                n = 0
                while time.monotonic() < ends:
                    task = asyncio.create_task(lifecycle(stack, client, THINK_SECONDS, n))
                    running.add(task)
                    task.add_done_callback(done)
                    n += 1
                    # On schedule, not after the last start: a slow answer never slows arrivals.
                    await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))

            producer = asyncio.create_task(arrivals())
            for minute in range(1, minutes + 1):
                since = started + (minute - 1) * SAMPLE_EVERY_SECONDS
                await asyncio.sleep(max(0.0, since + SAMPLE_EVERY_SECONDS - time.monotonic()))
                samples.append(sample(stack, tally, minute, since))
                print(" ".join(f"{k}={v}" for k, v in samples[-1].items()), flush=True)
            await producer
            if running:
                await asyncio.wait(running, timeout=DRAIN_WITHIN_SECONDS)
        return {
            "shape": "2 APIs, 2 workers, 1 Temporal dev server, 1 PostgreSQL case store",
            "minutes": minutes,
            "rate_per_second": rate,
            "consultations_started": len(finished) + len(running),
            "consultations_done": sum(1 for cid in finished if cid),
            "commands_answered": len(tally.commands),
            "requests_sent": tally.sent,
            "retries": tally.retried,
            "server_errors": tally.server_errors,
            "refused": tally.refused,
            "p99_ms_overall": round(
                nearest_rank([seconds for _, seconds in tally.commands], 0.99) * 1000, 1
            ),
            "samples": samples,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--rate", type=float, default=2.0, help="consultations started per s")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="minutes left out of the slopes (default: a fifth of the run, at most 10)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    warmup = (
        arguments.warmup
        if arguments.warmup is not None
        else min(10, max(1, arguments.minutes // 5))
    )
    compile_bytecode()
    results = asyncio.run(run(arguments.minutes, arguments.rate))
    results["warmup_minutes"] = warmup
    results["slopes"] = slopes(results["samples"], warmup)
    judged = len(results["samples"]) - warmup >= MIN_SAMPLES_TO_JUDGE
    results["judged"] = judged
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results["samples"]))
    print()
    print(table(results["slopes"]) if results["slopes"] else "no samples after the warm-up")
    summary = {k: v for k, v in results.items() if k not in ("samples", "slopes")}
    print(json.dumps(summary, indent=2))
    grows = [
        f"{s['figure']} grows {s['percent_per_hour']} %/h, median {s['median_percent_per_hour']}"
        f" %/h (target {s['target_percent_per_hour']})"
        for s in results["slopes"]
        if not s["met"]
    ]
    for line in grows:
        print("TARGET MISSED:" if judged else "would miss (too short to judge):", line)
    if not judged:
        print(
            f"{len(results['samples']) - warmup} samples after the warm-up: slopes shown, "
            f"judged from {MIN_SAMPLES_TO_JUDGE}"
        )
    if results["refused"]:
        print("TARGET MISSED: commands refused or given up:", results["refused"])
    sys.exit(1 if (judged and grows) or results["refused"] else 0)


if __name__ == "__main__":
    main()
