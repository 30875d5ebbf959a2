"""`python -m bench [--smoke] [--only NAME]`: the service's figures, their targets, pictures.

Each figure is a median over repeated runs on this machine, with the Temporal dev server,
PostgreSQL, `python worker.py` and `python -m api` running locally. The table is printed
and written to bench/results.json (bench/results.smoke.json with `--smoke`, tiny sizes,
for `make test`; its figures say nothing about targets); the pictures (bench/plots.py) are
drawn beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import concurrency, growth, latency, lifecycle, open_cases, plots, targets
from bench.harness_run import compile_bytecode, postgres
from bench.progress import progress
from bench.stack import running_stack

HERE = Path(__file__).resolve().parent
NAMES = ("lifecycle", "latency", "concurrency", "growth", "open_cases")


@dataclass(frozen=True)
class Sizes:
    repeats: int
    lifecycles: int
    lifecycle_concurrency: int
    latency_cases: int
    latency_requests: int
    latency_concurrency: int
    sweep_max_in_flight: int
    sweep_min_lifecycles: int
    sweep_lifecycles_per_in_flight: int
    growth_small: int
    growth_large: int
    open_cases: int


# Each size as the full run and the smoke run (`--smoke`) take it, side by side.
SIZE_TABLE = {
    "repeats": (3, 1),
    "lifecycles": (200, 5),
    "lifecycle_concurrency": (16, 4),
    "latency_cases": (200, 10),
    "latency_requests": (1000, 50),
    "latency_concurrency": (8, 4),
    # The concurrency sweep: 1, 2, 4, ... up to the most in flight, and at each
    # max(min_lifecycles, lifecycles_per_in_flight x in flight) lifecycles per side and run.
    "sweep_max_in_flight": (32, 4),
    "sweep_min_lifecycles": (20, 2),
    "sweep_lifecycles_per_in_flight": (4, 1),
    "growth_small": (10_000, 1_000),
    "growth_large": (1_000_000, 5_000),
    "open_cases": (10_000, 50),
}
FULL = Sizes(**{name: full for name, (full, _) in SIZE_TABLE.items()})
SMOKE = Sizes(**{name: smoke for name, (_, smoke) in SIZE_TABLE.items()})


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None

    def row(self) -> list[str]:
        met = {True: "yes", False: "NO", None: ""}[self.met]
        return [self.label, f"{self.value:,.2f} {self.unit}".strip(), self.target, met]

    @classmethod
    def judged(
        cls, key: str, label: str, value: float, unit: str, target: targets.Target
    ) -> Figure:
        """A figure held to its target (bench/targets.py)."""
        return cls(key, label, value, unit, str(target), target.met(value))


def lifecycle_figures(result: dict[str, Any]) -> list[Figure]:
    ratio = result["ratio"]
    figures = [
        Figure(
            "lifecycle_api_per_s",
            f"Lifecycle: API, consultations/s ({result['concurrency']} in flight)",
            result["api_per_s"],
            "/s",
        ),
        Figure(
            "lifecycle_skeleton_per_s",
            "Lifecycle: skeleton, lifecycles/s",
            result["skeleton_per_s"],
            "/s",
        ),
        Figure("lifecycle_ratio", "Lifecycle: API / skeleton", ratio, ""),
    ]
    if "naive_ratio" not in result:  # results from before the anchor
        return figures
    naive, cpu = result["naive_ratio"], result["cpu_ratio"]
    return [
        *figures,
        Figure(
            "lifecycle_naive_per_s",
            "Lifecycle: naive anchor, lifecycles/s",
            result["naive_per_s"],
            "/s",
        ),
        Figure.judged(
            "lifecycle_naive_ratio", "Lifecycle: API / naive", naive, "", targets.API_NAIVE
        ),
        Figure(
            "lifecycle_api_cpu_ms",
            "CPU per lifecycle: API, all processes",
            result["api_cpu_total_ms"],
            "ms",
        ),
        Figure(
            "lifecycle_skeleton_cpu_ms",
            "CPU per lifecycle: skeleton",
            result["skeleton_cpu_total_ms"],
            "ms",
        ),
        Figure.judged(
            "lifecycle_cpu_ratio", "CPU per lifecycle: API / skeleton", cpu, "x", targets.CPU_RATIO
        ),
    ]


def latency_figures(result: dict[str, Any]) -> list[Figure]:
    figures = []
    load = f"{result['concurrency']} in flight"
    for phase, label in latency.ENDPOINTS.items():
        label = f"{label} ({load})"
        p50, p99 = result[phase]["p50_ms"], result[phase]["p99_ms"]
        figures.append(Figure(f"latency_{phase}_p50_ms", f"{label} p50", p50, "ms"))
        key, limit = f"latency_{phase}_p99_ms", targets.LATENCY_P99.get(phase)
        figures.append(
            Figure.judged(key, f"{label} p99", p99, "ms", limit)
            if limit
            else Figure(key, f"{label} p99", p99, "ms")
        )
    return figures


def concurrency_figures(result: dict[str, Any]) -> list[Figure]:
    labels = {"api": "API", "naive": "naive anchor"}
    figures = []
    for side, name in labels.items():
        rates = {point["in_flight"]: point[f"{side}_per_s"] for point in result["points"]}
        at = result["knee"][side]
        figures.append(
            Figure(
                f"concurrency_{side}_knee_per_s",
                f"Sweep: {name} at its knee, {at} in flight (best {max(rates.values()):.1f}/s)",
                rates[at],
                "/s",
            )
        )
    return figures


def growth_figures(result: dict[str, Any]) -> list[Figure]:
    small, large, ratio = result["rows_small"], result["rows_large"], result["ratio"]
    recipients_large = result["recipients_ms_large"]
    scrape_ms = result.get("metrics_ms_large")
    scrape = (
        []  # results from before this figure
        if scrape_ms is None
        else [
            Figure.judged(
                "growth_metrics_ms_large",
                f"/metrics counts, {large:,} rows",
                scrape_ms,
                "ms",
                targets.METRICS_AT_1M,
            )
        ]
    )
    return [
        *scrape,
        Figure(
            "growth_inbox_ms_small", f"Inbox query, {small:,} rows", result["inbox_ms_small"], "ms"
        ),
        Figure(
            "growth_inbox_ms_large", f"Inbox query, {large:,} rows", result["inbox_ms_large"], "ms"
        ),
        Figure.judged(
            "growth_ratio", f"Inbox query {large:,} / {small:,}", ratio, "", targets.INBOX_GROWTH
        ),
        Figure(
            "growth_recipients_ms_small",
            f"Recipients query, {small:,} relations",
            result["recipients_ms_small"],
            "ms",
        ),
        Figure.judged(
            "growth_recipients_ms_large",
            f"Recipients query, {large:,} relations",
            recipients_large,
            "ms",
            targets.RECIPIENTS_AT_1M,
        ),
    ]


def open_cases_figures(result: dict[str, Any]) -> list[Figure]:
    rss = result["rss_mb"]
    label = f"Worker RSS, {result['open']:,} open"
    return [
        Figure.judged("open_cases_rss_mb", label, rss, "MB", targets.WORKER_RSS),
        Figure("open_cases_peak_rss_mb", f"{label} (peak)", result["peak_rss_mb"], "MB"),
        Figure("open_cases_per_s", "Cases opened/s (to reach that)", result["opened_per_s"], "/s"),
    ]


def run_lifecycle_and_latency(names: set[str], sizes: Sizes) -> dict[str, Any]:
    """Lifecycle, latency and the concurrency sweep on one stack: the same Temporal server,
    worker and API process (the sweep last, so the other two meet the server as before)."""
    results: dict[str, Any] = {}
    progress("starting Temporal, PostgreSQL database, worker, skeleton worker and API")
    with running_stack() as stack:
        if "lifecycle" in names:
            results["lifecycle"] = lifecycle.measure(
                stack, sizes.lifecycles, sizes.repeats, sizes.lifecycle_concurrency
            )
        if "latency" in names:
            results["latency"] = latency.measure(
                stack,
                sizes.latency_cases,
                sizes.latency_requests,
                sizes.repeats,
                sizes.latency_concurrency,
            )
        if "concurrency" in names:
            results["concurrency"] = concurrency.measure(
                stack,
                sizes.sweep_max_in_flight,
                sizes.sweep_min_lifecycles,
                sizes.sweep_lifecycles_per_in_flight,
                sizes.repeats,
            )
    return results


def run_open_cases(sizes: Sizes) -> dict[str, Any]:
    """A fresh stack per run: the worker's memory is measured from its start."""
    runs: list[dict[str, Any]] = []
    for number in range(1, sizes.repeats + 1):
        progress(f"open cases run {number}/{sizes.repeats}: opening {sizes.open_cases:,}")
        result: dict[str, Any] = dict(open_cases.measure(sizes.open_cases))
        result["opened_per_s"] = result["open"] / result["seconds_to_open"]
        runs.append(result)
    summary: dict[str, Any] = {
        key: statistics.median(run[key] for run in runs)
        for key in ("rss_mb", "peak_rss_mb", "seconds_to_open", "opened_per_s")
    }
    return {"open": sizes.open_cases, **summary, "runs": runs}


FIGURES: dict[str, Callable[[dict[str, Any]], list[Figure]]] = {
    "lifecycle": lifecycle_figures,
    "latency": latency_figures,
    "concurrency": concurrency_figures,
    "growth": growth_figures,
    "open_cases": open_cases_figures,
}


def table(figures: list[Figure]) -> str:
    rows = [["figure", "value", "target", "met?"], *(figure.row() for figure in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run (make test)")
    parser.add_argument("--only", choices=NAMES, action="append", help="run only this figure")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3, smoke 1)")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--show", action="store_true", help="print the last results' table only")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SIZE=N",
        help=f"override a size: {', '.join(Sizes.__dataclass_fields__)}",
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.repeats:
        overrides["repeats"] = str(args.repeats)
    unknown = overrides.keys() - Sizes.__dataclass_fields__.keys()
    if unknown:
        parser.error(f"unknown sizes: {', '.join(sorted(unknown))}")
    sizes = Sizes(**{**sizes.__dict__, **{k: int(v) for k, v in overrides.items()}})
    names = set(args.only or NAMES)
    output = args.output or HERE / ("results.smoke.json" if args.smoke else "results.json")
    if args.show:
        shown = json.loads(output.read_text())
        print(table([Figure(**f) for f in shown["figures"]]))
        return 0

    with postgres() as server:
        started = time.perf_counter()
        load_before = os.getloadavg()
        compile_bytecode()
        # With --only, the other figures of the last run stay in the file.
        previous = json.loads(output.read_text()) if args.only and output.exists() else {}
        # Figures being measured again are dropped first: an older run's shape may lack keys.
        details: dict[str, Any] = {
            name: value for name, value in previous.get("details", {}).items() if name not in names
        }

        def save() -> dict[str, Any]:
            """Written after each figure, so an interrupted run keeps what it measured."""
            figures = [f for name in NAMES if name in details for f in FIGURES[name](details[name])]
            results = {
                "mode": "smoke" if args.smoke else "full",
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - started, 1),
                "sizes": sizes.__dict__,
                "machine": {**machine(), "load_average_before": load_before},
                "postgres": server.describe(),
                "figures": [f.__dict__ for f in figures],
                "details": details,
            }
            output.write_text(json.dumps(results, indent=2) + "\n")
            return results

        if names & {"lifecycle", "latency", "concurrency"}:
            details.update(run_lifecycle_and_latency(names, sizes))
            save()
        if "growth" in names:
            details["growth"] = growth.measure(
                sizes.growth_small, sizes.growth_large, sizes.repeats
            )
            save()
        if "open_cases" in names:
            details["open_cases"] = run_open_cases(sizes)
        results = save()

        print(table([Figure(**f) for f in results["figures"]]))
        print(
            f"\n{results['mode']} run, medians of {sizes.repeats} run(s), {results['seconds']} s; "
            f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} CPUs; written to {output}\n{server.describe()}"
        )
        if "lifecycle" in details:
            print(f"skeleton plan (read from a real consultation): {details['lifecycle']['plan']}")
    plots.draw(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
