"""`python -m bench --smoke` runs end to end, reports every figure and draws every picture
(no timing asserted)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dev.harness.databases import PostgresServer
from dev.harness.processes import ROOT

EVERY_FIGURE = {
    "lifecycle_api_per_s",
    "lifecycle_skeleton_per_s",
    "lifecycle_ratio",
    "lifecycle_naive_per_s",
    "lifecycle_naive_ratio",
    "lifecycle_api_cpu_ms",
    "lifecycle_skeleton_cpu_ms",
    "lifecycle_cpu_ratio",
    "latency_inbox_p50_ms",
    "latency_inbox_p99_ms",
    "latency_read_p50_ms",
    "latency_read_p99_ms",
    "latency_reply_p50_ms",
    "latency_reply_p99_ms",
    "concurrency_api_knee_per_s",
    "concurrency_naive_knee_per_s",
    "growth_inbox_ms_small",
    "growth_inbox_ms_large",
    "growth_ratio",
    "growth_metrics_ms_large",
    "growth_recipients_ms_small",
    "growth_recipients_ms_large",
    "open_cases_rss_mb",
}


@pytest.mark.timeout(200)
def test_the_smoke_bench_reports_every_figure_and_draws_every_picture(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    output = tmp_path / "results.smoke.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_URL": postgres_server.admin_url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(output.read_text())
    figures = {figure["key"]: figure["value"] for figure in results["figures"]}
    assert figures.keys() >= EVERY_FIGURE, sorted(EVERY_FIGURE - figures.keys())
    assert all(math.isfinite(value) and value > 0 for value in figures.values()), figures
    assert "| figure" in completed.stdout
    pictures = ("throughput", "latency_cdf", "cpu_per_lifecycle")
    for picture in pictures:
        with Image.open(tmp_path / f"{picture}.smoke.png") as image:
            assert image.format == "PNG"
