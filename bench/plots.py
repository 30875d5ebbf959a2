"""`python -m bench.plots [results.json]`: `make bench`'s pictures, drawn from its results.

Three PNGs beside the results file, from that file alone (`throughput.png` beside
results.json, `throughput.smoke.png` beside results.smoke.json):

- throughput.png: lifecycles/s against lifecycles in flight (details.concurrency), the API
  and the naive anchor on one chart, each side's knee marked;
- latency_cdf.png: the share of requests answered within x ms, one line per endpoint
  (details.latency: the latencies of the run with the median p99), p50 and p99 marked, the
  p99 targets drawn;
- cpu_per_lifecycle.png: CPU ms per lifecycle by process (details.lifecycle, its last run)
  for the service, the same-shape skeleton and the naive anchor side by side.

A picture whose data the results lack (an older run, or `--only` without that figure) is
skipped with one line saying so. `python -m bench` draws them after every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
    PercentFormatter,
)

from bench import targets
from bench.latency import ENDPOINTS
from bench.load import percentile

RESULTS = Path(__file__).resolve().parent / "results.json"
SIZE_INCHES = (9.0, 5.5)
DPI = 110

SIDES = {"api": "API (consultation over HTTP)", "naive": "naive anchor (plain Temporal)"}
# CPU per lifecycle: each bar's entry in details.lifecycle and the name of its own worker.
CPU_BARS = {
    "api_cpu_ms": ("service\n(through the API)", "worker-0"),
    "skeleton_cpu_ms": ("same-shape\nskeleton", "skeleton-worker"),
    "naive_cpu_ms": ("naive\nanchor", "naive-worker"),
}
# Processes bottom to top; "worker" stands for each bar's own worker.
CPU_PROCESSES = {
    "temporal": "Temporal server",
    "worker": "worker",
    "api": "API",
    "postgres": "PostgreSQL",
    "driver": "driver (the bench's client)",
}


def draw_throughput(details: dict[str, Any], axes: Axes) -> None:
    sweep = details["concurrency"]
    points = sweep["points"]
    in_flight = [point["in_flight"] for point in points]
    rates = {side: [point[f"{side}_per_s"] for point in points] for side in SIDES}
    for number, (side, label) in enumerate(SIDES.items()):
        color = f"C{number}"
        axes.plot(in_flight, rates[side], marker="o", color=color, label=label)
        at = sweep["knee"][side]
        rate = rates[side][in_flight.index(at)]
        axes.plot(at, rate, marker="o", markersize=16, fillstyle="none", mew=2, color=color)
        # The higher line's note goes above it and the lower's below, so they do not cross;
        # left of the point when it is the last, so the note stays inside the chart.
        higher = all(rate >= others[in_flight.index(at)] for others in rates.values())
        last = at == in_flight[-1]
        axes.annotate(
            f"knee: {at} in flight, {rate:.1f}/s",
            xy=(at, rate),
            xytext=(-12 if last else 12, 14 if higher else -22),
            textcoords="offset points",
            ha="right" if last else "left",
            color=color,
            fontweight="bold",
        )
    axes.set_xscale("log", base=2)
    axes.set_xticks(in_flight, [str(n) for n in in_flight])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_ylim(bottom=0, top=1.15 * max(max(r) for r in rates.values()))
    axes.set_xlabel("lifecycles in flight")
    runs = sweep["repeats"]
    axes.set_ylabel("lifecycles/s" + (f" (median of {runs} runs)" if runs > 1 else " (one run)"))
    fraction = sweep["knee_fraction"]
    axes.set_title(
        "Throughput against concurrency\n"
        f"knee: the fewest in flight that reach {fraction:.0%} of that line's best"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")


def draw_latency_cdf(details: dict[str, Any], axes: Axes) -> None:
    result = details["latency"]
    for number, (phase, endpoint) in enumerate(ENDPOINTS.items()):
        color, latencies = f"C{number}", sorted(result[phase]["latencies_ms"])
        shares = [(rank + 1) / len(latencies) for rank in range(len(latencies))]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        label = f"{endpoint}: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        axes.step(latencies, shares, where="post", color=color, label=label)
        axes.plot([p50, p99], [0.5, 0.99], "o", color=color)
        target = targets.LATENCY_P99.get(phase)
        if target:
            axes.axvline(
                target.limit, color=color, linestyle="--", label=f"{phase} p99 target: {target}"
            )
    for share in (0.5, 0.99):
        axes.axhline(share, color="grey", linewidth=0.6, linestyle=":")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("latency, ms (log scale)")
    axes.set_ylabel("requests answered within")
    axes.set_title(
        f"Latency per endpoint, {result['concurrency']} in flight\n"
        "the run with the median p99 (dots at its p50 and p99)"
    )
    axes.grid(alpha=0.3)
    # Below the chart: inside, it would cover the fast endpoints' tails.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize="small")


def draw_cpu_per_lifecycle(details: dict[str, Any], axes: Axes) -> None:
    result = details["lifecycle"]
    names = [name for name, _ in CPU_BARS.values()]
    bottoms = [0.0] * len(CPU_BARS)
    for number, (process, label) in enumerate(CPU_PROCESSES.items()):
        heights = [
            result[bar].get(worker if process == "worker" else process, 0.0)
            for bar, (_, worker) in CPU_BARS.items()
        ]
        axes.bar(names, heights, bottom=bottoms, label=label, color=f"C{number}", width=0.6)
        bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
    service, skeleton = bottoms[0], bottoms[1]
    for x, total in enumerate(bottoms):
        note = f"{total:.0f} ms" + (f"\n{service / skeleton:.2f} x skeleton" if x == 0 else "")
        axes.annotate(note, xy=(x, total), xytext=(0, 3), textcoords="offset points", ha="center")
    # What the service may cost: the target's multiple of the skeleton's total.
    allowed = targets.CPU_RATIO.limit * skeleton
    axes.hlines(allowed, -0.4, 0.4, colors="black", linestyles="--", linewidth=1.2)
    axes.annotate(
        f"target: {targets.CPU_RATIO} skeleton = {allowed:.0f} ms",
        xy=(0.4, allowed),
        xytext=(4, -4),
        textcoords="offset points",
        va="top",
        fontsize="small",
    )
    axes.set_ylim(top=1.25 * max(*bottoms, allowed))
    axes.set_ylabel("CPU ms per lifecycle")
    axes.set_title(
        "CPU per lifecycle by process\n"
        f"the last lifecycle run: {result['n']} of each, {result['concurrency']} in flight"
    )
    axes.grid(alpha=0.3, axis="y")
    axes.legend(loc="upper right", fontsize="small")


@dataclass(frozen=True)
class Picture:
    name: str
    needs: tuple[tuple[str, ...], ...]  # paths into the results' details
    draw: Callable[[dict[str, Any], Axes], None]


PICTURES = (
    Picture(
        "throughput.png", (("concurrency", "points"), ("concurrency", "knee")), draw_throughput
    ),
    Picture(
        "latency_cdf.png",
        tuple(("latency", phase, "latencies_ms") for phase in ENDPOINTS),
        draw_latency_cdf,
    ),
    Picture(
        "cpu_per_lifecycle.png",
        tuple(("lifecycle", bar) for bar in CPU_BARS),
        draw_cpu_per_lifecycle,
    ),
)


def picture_path(results: Path, picture: str) -> Path:
    """Beside the results: results.json's `throughput.png`, results.smoke.json's
    `throughput.smoke.png` (so a smoke run never overwrites the real run's pictures)."""
    tag = results.name.removesuffix(".json").removeprefix("results").lstrip(".")
    stem, extension = picture.rsplit(".", 1)
    return results.with_name(f"{stem}.{tag}.{extension}" if tag else picture)


def missing(details: dict[str, Any], needs: tuple[tuple[str, ...], ...]) -> str | None:
    """The first of `needs` that the details lack, as `details.a.b`, or None."""
    for path in needs:
        node: Any = details
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return "details." + ".".join(path)
            node = node[key]
    return None


def draw(results: Path) -> list[Path]:
    """Draws every picture the results have data for; the paths written."""
    details = json.loads(results.read_text()).get("details", {})
    written = []
    for picture in PICTURES:
        path = picture_path(results, picture.name)
        lacking = missing(details, picture.needs)
        if lacking:
            print(f"{path.name}: skipped, {results.name} has no {lacking}")
            continue
        figure = Figure(figsize=SIZE_INCHES, layout="constrained")
        FigureCanvasAgg(figure)  # PNG without a display, whatever the default backend
        picture.draw(details, figure.add_subplot())
        figure.savefig(path, dpi=DPI)
        print(f"{path.name}: drawn beside {results.name}")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("results", type=Path, nargs="?", default=RESULTS)
    args = parser.parse_args(argv)
    if not args.results.exists():
        parser.error(f"no results at {args.results}: run `make bench` first")
    draw(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
