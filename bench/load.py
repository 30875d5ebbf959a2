"""`python -m bench.load SPEC.json`: a bounded HTTP load on loopback, latencies as JSON.

Runs as its own process, so the client's CPU is not the server's event loop. The spec says
what to call: `base_url` (loopback only), `method`, `paths` (taken in turn), optional
`json` body and `headers`, `concurrency` (requests in flight), `requests` (how many are
timed), `warmup` (sent first, not timed) and `max_seconds` (stop early when reached).
Prints one JSON object: count, errors, status counts, p50/p90/p99/max/mean in ms, rps, and
every timed request's latency in ms, sorted (`latencies_ms`, to 0.01 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOPBACK_NAMES = {"localhost"}


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of values at or below."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    paths: list[str] = spec["paths"]
    concurrency = int(spec.get("concurrency", 8))
    timed = int(spec["requests"])
    warmup = int(spec.get("warmup", 0))
    deadline = time.monotonic() + float(spec.get("max_seconds", 60))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    issued = 0
    started_timing = 0.0

    async with httpx.AsyncClient(
        base_url=spec["base_url"],
        headers=spec.get("headers", {}),
        limits=limits,
        timeout=httpx.Timeout(30.0),
    ) as http:

        async def one(n: int) -> None:
            path = paths[n % len(paths)]
            began = time.perf_counter()
            try:
                response = await http.request(spec["method"], path, json=spec.get("json"))
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            if n >= warmup:
                latencies.append((time.perf_counter() - began) * 1000)
                statuses[status] += 1

        async def lane() -> None:
            nonlocal issued, started_timing
            while issued < warmup + timed and time.monotonic() < deadline:
                n = issued
                issued += 1
                if n == warmup:
                    started_timing = time.perf_counter()
                await one(n)

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    seconds = time.perf_counter() - started_timing if started_timing else 0.0
    ordered = sorted(latencies)
    expected = int(spec.get("expect_status", 200))
    return {
        "name": spec.get("name", spec["method"]),
        "count": len(ordered),
        "errors": sum(count for status, count in statuses.items() if status != expected),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "concurrency": concurrency,
        "p50_ms": percentile(ordered, 0.50),
        "p90_ms": percentile(ordered, 0.90),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] if ordered else math.nan,
        "mean_ms": sum(ordered) / len(ordered) if ordered else math.nan,
        "rps": len(ordered) / seconds if seconds else 0.0,
        "seconds": seconds,
        "latencies_ms": [round(value, 2) for value in ordered],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="JSON load spec (see the module docstring)")
    spec = json.loads(parser.parse_args().spec.read_text())
    if not is_loopback(spec["base_url"]):
        sys.exit(f"refusing to load a non-loopback address: {spec['base_url']}")
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
