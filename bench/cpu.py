"""CPU time per process over a stretch of a benchmark: on 2 cores, throughput is CPU.

Processes are the stack's children by name, the benchmark's own process (`driver`), and
PostgreSQL's backends serving the bench database (found by the database name in their
command line; a backend that exits between two readings is not counted).
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


class CpuMeter:
    """Reads CPU seconds per named process; `since` gives the difference to a reading."""

    def __init__(self, pids: Mapping[str, int], database: str) -> None:
        self._pids = {**pids, "driver": os.getpid()}
        self._database = database

    def reading(self) -> dict[str, float]:
        seconds = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        seconds["postgres"] = sum(cpu_seconds(pid) for pid in backends_of(self._database))
        return seconds

    def since(self, earlier: Mapping[str, float]) -> dict[str, float]:
        now = self.reading()
        return {name: now[name] - earlier.get(name, 0.0) for name in now}
