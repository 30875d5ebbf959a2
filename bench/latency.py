"""API latency under a bounded concurrent load from a second process on loopback.

Consultations are created through the API first (all addressed to one clinician, whose
inbox they fill). Then `python -m bench.load` runs one endpoint at a time: GET /v1/inbox,
GET /v1/consultations/{id}, POST /v1/consultations/{id}/replies. A clinician may reply in
`awaiting_clinician` and in `awaiting_patient`, so replies go round the same consultations
again and again; with many more consultations than requests in flight, no two replies to
one consultation overlap.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import CpuMeter
from bench.progress import progress
from bench.stack import REPLY_BODY, Stack, consultation_body, seed_clinician
from dev.harness.processes import ROOT

CLINICIAN = "bench-hpr-latency"
# Each phase's endpoint, as the table and the pictures name it.
ENDPOINTS = {
    "inbox": "GET /v1/inbox",
    "read": "GET /v1/consultations/{id}",
    "reply": "POST /v1/consultations/{id}/replies",
}
PHASES = tuple(ENDPOINTS)
# Latencies kept per phase in the results, for the CDF picture (bench/plots.py).
KEPT_LATENCIES = 1000


async def _create_cases(stack: Stack, n: int, concurrency: int) -> list[str]:
    headers = stack.tokens.service()
    limits = httpx.Limits(max_connections=concurrency)
    ids: list[str] = []
    async with httpx.AsyncClient(
        base_url=stack.api_url, limits=limits, timeout=httpx.Timeout(60.0)
    ) as http:

        async def lane(count: int) -> None:
            for _ in range(count):
                response = await http.post(
                    "/v1/consultations", json=consultation_body(CLINICIAN), headers=headers
                )
                if response.status_code != 201:
                    raise RuntimeError(f"create failed: {response.status_code} {response.text}")
                ids.append(response.json()["id"])

        share, extra = divmod(n, concurrency)
        await asyncio.gather(*(lane(share + (i < extra)) for i in range(concurrency)))
    return ids


def create_cases(stack: Stack, n: int, concurrency: int = 8) -> list[str]:
    """`n` consultations awaiting the clinician, created through the API."""
    seed_clinician(stack, CLINICIAN)
    return asyncio.run(_create_cases(stack, n, concurrency))


def phase_spec(
    stack: Stack, phase: str, cases: list[str], requests: int, concurrency: int
) -> dict[str, Any]:
    paths = {
        "inbox": ["/v1/inbox"],
        "read": [f"/v1/consultations/{case}" for case in cases],
        "reply": [f"/v1/consultations/{case}/replies" for case in cases],
    }[phase]
    return {
        "name": phase,
        "base_url": stack.api_url,
        "method": "POST" if phase == "reply" else "GET",
        "paths": paths,
        "json": REPLY_BODY if phase == "reply" else None,
        "headers": stack.tokens.clinician(CLINICIAN),
        "concurrency": concurrency,
        "requests": requests,
        "warmup": 2 * concurrency,
        "max_seconds": 180,
    }


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m bench.load` in its own process and read its JSON answer."""
    descriptor, name = tempfile.mkstemp(prefix="econsult-load-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(spec, file)
        completed = subprocess.run(
            [sys.executable, "-m", "bench.load", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        Path(name).unlink(missing_ok=True)
    if completed.returncode != 0:
        raise RuntimeError(f"bench.load failed: {completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    if result["errors"]:
        raise RuntimeError(f"{spec['name']}: {result['errors']} failed requests: {result}")
    return result


def evenly_spaced(ordered: list[float], at_most: int = KEPT_LATENCIES) -> list[float]:
    """At most `at_most` of the sorted values, evenly spaced by rank, the first and last kept."""
    if len(ordered) <= at_most:
        return ordered
    step = (len(ordered) - 1) / (at_most - 1)
    return [ordered[round(i * step)] for i in range(at_most)]


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose p99 is the median (of two, the higher)."""
    return sorted(runs, key=lambda run: run["p99_ms"])[len(runs) // 2]


def measure(
    stack: Stack, cases: int, requests: int, repeats: int, concurrency: int = 8
) -> dict[str, Any]:
    """p50 and p99 per endpoint: medians over `repeats` runs of each phase, and the
    latencies of the run with the median p99 (at most KEPT_LATENCIES, sorted, in ms)."""
    progress(f"latency: creating {cases} consultations")
    ids = create_cases(stack, cases)
    meter = CpuMeter(stack.processes.pids, stack.database)
    runs: dict[str, list[dict[str, Any]]] = {phase: [] for phase in PHASES}
    for run in range(1, repeats + 1):
        for phase in PHASES:
            progress(f"latency run {run}/{repeats}: {requests} x {phase}")
            spec = phase_spec(stack, phase, ids, requests, concurrency)
            before = meter.reading()
            result = run_load(spec)
            # CPU ms per request (warm-up included) by process, the load generator aside.
            cpu, sent = meter.since(before), result["count"] + spec["warmup"]
            result["cpu_ms_per_request"] = {
                name: round(seconds * 1000 / sent, 2)
                for name, seconds in cpu.items()
                if name != "driver"
            }
            runs[phase].append(result)
    summary: dict[str, Any] = {"cases": cases, "requests": requests, "concurrency": concurrency}
    for phase in PHASES:
        summary[phase] = {
            key: statistics.median(run[key] for run in runs[phase])
            for key in ("p50_ms", "p90_ms", "p99_ms", "rps")
        }
        summary[phase]["cpu_ms_per_request"] = runs[phase][-1]["cpu_ms_per_request"]
        summary[phase]["latencies_ms"] = evenly_spaced(median_run(runs[phase])["latencies_ms"])
        # One run's latencies are enough for the picture; the other runs keep their figures.
        for run_result in runs[phase]:
            del run_result["latencies_ms"]
        summary[phase]["runs"] = runs[phase]
    return summary
