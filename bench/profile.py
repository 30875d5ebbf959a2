"""`python -m bench.profile`: where the worker's and the API's CPU goes during API lifecycles.

Starts the bench stack, warms it, then drives lifecycles through the API (16 in flight) while
py-spy samples the worker and the API, counting only threads that hold the GIL: a thread
waiting for the GIL inside a driver call would otherwise look busy. Prints, per process, the
share of samples by the innermost package frame and by this service's own functions
(inclusive), and keeps the raw profiles (py-spy's `raw` format, flame-graph ready).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections import Counter
from pathlib import Path

import httpx

from bench.harness_run import postgres
from bench.lifecycle import CLINICIAN, HTTP_TIMEOUT, ApiLifecycle, client_for, run_bounded
from bench.progress import progress
from bench.stack import Stack, running_stack, seed_clinician

PROFILED = ("worker-0", "api")
SERVICE = re.compile(r"\((activities|api|domain|infra|store|workflows)/")
FRAME = re.compile(r"\((?P<path>[^:()]+):\d+\)")
# Leading path parts that name the owner of a frame, by how deep the name goes.
DEEP_PACKAGES = {"temporalio": 3, "sqlalchemy": 2, "psycopg": 2, "opentelemetry": 3}


def owner(frames: list[str]) -> str:
    """The innermost frame that is not the standard library: the code that spent the time."""
    for frame in reversed(frames):
        match = FRAME.search(frame)
        if match is None or "/" not in match["path"] or match["path"].startswith("<"):
            continue
        parts = match["path"].split("/")
        if parts[0] in {"asyncio", "concurrent", "json", "logging", "importlib"}:
            continue
        return "/".join(parts[: DEEP_PACKAGES.get(parts[0], 1)])
    return "(native or standard library)"


def summary(raw: Path, top: int) -> str:
    by_owner: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples, frames = int(count), stack.split(";")
        total += samples
        by_owner[owner(frames)] += samples
        for frame in dict.fromkeys(f for f in frames if SERVICE.search(f)):
            ours[frame] += samples
    lines = [f"{raw.stem}: {total} samples holding the GIL"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_owner.most_common(top)]
    lines.append("  this service's functions, inclusive:")
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in ours.most_common(top)]
    return "\n".join(lines)


async def drive(stack: Stack, lifecycles: int, seconds: int, folder: Path) -> list[Path]:
    client = await client_for(stack)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=HTTP_TIMEOUT, limits=limits
    ) as http:
        api = ApiLifecycle(stack, http, client)
        await run_bounded(api, 32, 16)
        outputs, spies = [], []
        for name in PROFILED:
            output = folder / f"{name}.txt"
            command = [
                str(Path(sys.executable).with_name("py-spy")),
                *("record", "--pid", str(stack.processes.pids[name]), "--duration", str(seconds)),
                *("--rate", "200", "--format", "raw", "--output", str(output)),
                *("--gil", "--nonblocking"),
            ]
            spies.append(
                await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
            )
            outputs.append(output)
        progress(f"profiling {', '.join(PROFILED)} for {seconds} s over {lifecycles} lifecycles")
        await run_bounded(api, lifecycles, 16)
        for spy in spies:
            await spy.wait()
        return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--lifecycles", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20, help="sampling time per process")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--output", type=Path, default=Path("bench/profiles"))
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    with postgres(), running_stack(skeleton=False) as stack:
        seed_clinician(stack, CLINICIAN)
        outputs = asyncio.run(drive(stack, args.lifecycles, args.seconds, args.output))
    for output in outputs:
        print(summary(output, args.top), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
