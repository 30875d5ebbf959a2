"""CPU time per process over a stretch of a benchmark: on 2 cores, throughput is CPU.

Processes are the stack's children by name, the benchmark's own process (`driver`), and
PostgreSQL's backends serving the bench database (found by the database name in their
command line). Backends come and go (a pool's overflow connections close when returned):
each is counted by its own difference between two readings, from zero if it is new; one
that exits between them is not counted, so the figure may be low, never negative.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def backends_of(database: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"postgres:") and database.encode() in command:
                pids.append(int(entry.name))
    return pids


class Reading(dict[str, float]):
    """CPU seconds per named process, and per PostgreSQL backend (summed as `postgres`)."""

    def __init__(self, seconds: Mapping[str, float], backends: Mapping[int, float]) -> None:
        super().__init__(seconds, postgres=sum(backends.values()))
        self.backends = dict(backends)


class CpuMeter:
    """Reads CPU seconds per named process; `since` gives the difference to a reading."""

    def __init__(self, pids: Mapping[str, int], database: str) -> None:
        self._pids = {**pids, "driver": os.getpid()}
        self._database = database

    def reading(self) -> Reading:
        return Reading(
            {name: cpu_seconds(pid) for name, pid in self._pids.items()},
            {pid: cpu_seconds(pid) for pid in backends_of(self._database)},
        )

    def since(self, earlier: Reading) -> dict[str, float]:
        return spent_between(earlier, self.reading())


def spent_between(earlier: Reading, now: Reading) -> dict[str, float]:
    """CPU seconds each process spent between two readings; backends each by their own."""
    spent = {name: now[name] - earlier.get(name, 0.0) for name in now}
    spent["postgres"] = sum(
        seconds - earlier.backends.get(pid, 0.0) for pid, seconds in now.backends.items()
    )
    return spent
