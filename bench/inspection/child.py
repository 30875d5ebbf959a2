"""Runs in a checking process: one check, and what it cost that process. It imports only the
child's own module (which the forkserver has loaded), so the figures are the check's."""

from __future__ import annotations

import resource
from pathlib import Path

from api.inspection_budget import Budget, check_within_budget


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: libheif decodes in several
    return usage.ru_utime + usage.ru_stime


def usage_of_one_check(content: bytes, media_type: str, budget: Budget) -> tuple[float, int, int]:
    """(CPU seconds since the process was forked, peak address space MiB, peak resident MiB),
    its start, the payload's transfer and the check included."""
    check_within_budget(content, media_type, budget)
    status = Path("/proc/self/status").read_text()
    peak = int(status.split("VmPeak:", 1)[1].split()[0]) // 1024
    return cpu_seconds(), peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
