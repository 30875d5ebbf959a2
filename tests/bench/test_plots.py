"""bench.plots: three PNGs from the results alone; a picture without its data is skipped."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bench.latency import evenly_spaced, median_run
from bench.plots import draw, picture_path

PICTURES = ("throughput.png", "latency_cdf.png", "cpu_per_lifecycle.png")


def _cpu(worker: str, temporal: float, own: float, api: float, postgres: float) -> dict[str, float]:
    processes = {"temporal": temporal, "worker-0": 0.0, "skeleton-worker": 0.0}
    processes |= {"naive-worker": 0.0, "api": api, "driver": 4.0, "postgres": postgres}
    processes[worker] = own
    return {**processes, "total": round(sum(processes.values()), 2)}


def _latencies(fastest: float, count: int) -> list[float]:
    return [round(fastest * (1 + rank / 40), 2) for rank in range(count)]


RESULTS: dict[str, Any] = {
    "mode": "full",
    "details": {
        "lifecycle": {
            "n": 200,
            "concurrency": 16,
            "api_cpu_ms": _cpu("worker-0", 59.35, 56.25, 14.9, 9.4),
            "skeleton_cpu_ms": _cpu("skeleton-worker", 44.05, 40.0, 0.1, 0.0),
            "naive_cpu_ms": _cpu("naive-worker", 60.55, 26.45, 0.1, 0.0),
        },
        "latency": {
            "concurrency": 8,
            **{
                phase: {"p50_ms": fastest * 1.5, "p99_ms": fastest * 3.4, "latencies_ms": values}
                for phase, fastest in (("inbox", 12.0), ("read", 14.0), ("reply", 100.0))
                for values in [_latencies(fastest, 100)]
            },
        },
        "concurrency": {
            "repeats": 3,
            "knee_fraction": 0.9,
            "knee": {"api": 8, "naive": 16},
            "points": [
                {"in_flight": n, "lifecycles": max(20, 4 * n), "api_per_s": api, "naive_per_s": nv}
                for n, api, nv in (
                    (1, 3.1, 6.0),
                    (2, 5.9, 11.0),
                    (4, 9.0, 17.5),
                    (8, 11.6, 21.9),
                    (16, 12.4, 23.4),
                    (32, 12.2, 24.0),
                )
            ],
        },
    },
}


def _write(folder: Path, results: dict[str, Any], name: str = "results.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(results))
    return path


def test_each_picture_is_a_png_drawn_beside_the_results(tmp_path: Path) -> None:
    written = draw(_write(tmp_path, RESULTS))

    assert [path.name for path in written] == list(PICTURES)
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert 600 <= width <= 2000 and 400 <= height <= 1500, (path.name, image.size)


def test_a_picture_without_its_data_is_skipped_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = copy.deepcopy(RESULTS)
    del older["details"]["concurrency"]
    del older["details"]["latency"]["reply"]["latencies_ms"]

    written = draw(_write(tmp_path, older))

    assert [path.name for path in written] == ["cpu_per_lifecycle.png"]
    assert not (tmp_path / "throughput.png").exists()
    skipped = [line for line in capsys.readouterr().out.splitlines() if "skipped" in line]
    assert skipped == [
        "throughput.png: skipped, results.json has no details.concurrency.points",
        "latency_cdf.png: skipped, results.json has no details.latency.reply.latencies_ms",
    ]


def test_results_with_no_details_draw_nothing(tmp_path: Path) -> None:
    assert draw(_write(tmp_path, {"mode": "full", "figures": []})) == []


def test_the_smoke_runs_pictures_are_named_apart_from_the_real_runs() -> None:
    assert picture_path(Path("bench/results.json"), "throughput.png") == Path(
        "bench/throughput.png"
    )
    assert picture_path(Path("bench/results.smoke.json"), "throughput.png") == Path(
        "bench/throughput.smoke.png"
    )


def test_the_results_keep_at_most_a_thousand_latencies_first_and_last_included() -> None:
    ordered = [float(n) for n in range(5000)]

    kept = evenly_spaced(ordered)

    assert len(kept) == 1000
    assert kept[0] == 0.0 and kept[-1] == 4999.0
    assert kept == sorted(kept)
    assert evenly_spaced([1.0, 2.0]) == [1.0, 2.0]


def test_the_latencies_kept_are_the_median_p99_runs() -> None:
    runs = [{"p99_ms": 300.0}, {"p99_ms": 200.0}, {"p99_ms": 250.0}]

    assert median_run(runs) == {"p99_ms": 250.0}
