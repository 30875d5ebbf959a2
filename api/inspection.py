"""Uploads are inspected in child processes, a fresh one per file, under a budget.

The kernel holds the child to it: RLIMIT_CPU ends the process (SIGXCPU) once it has spent its
CPU seconds, and RLIMIT_AS makes any allocation past the address-space limit fail (MemoryError,
or the decoder dies). The checks themselves refuse more pixels, or a PDF stream inflating to
more bytes, than allowed. Whichever limit is met, the answer is OverBudget and that process is
gone; the pool starts another in its place (pebble replaces one worker, where
concurrent.futures' pool would break as a whole). A wall-clock watchdog ends a child that
hangs without spending CPU. The API's event loop and threads only wait.

Two lanes, each its own pool: images (bounded by the pixel cap, a fraction of a second each)
and PDFs (which may take the whole budget), so a photo never queues behind documents.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import TimeoutError
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from pebble import ProcessExpired, ProcessPool
from prometheus_client import Gauge

from api.file_content import OverBudget, claimed_type
from api.inspection_budget import PDF, Budget, check_within_budget, enter_budget
from api.outages import retry_later

if TYPE_CHECKING:
    from infra.settings import Settings

# A child is never forked from the API (its threads would be copied mid-work) but from a
# forkserver that has imported the decoders once, so a new child starts in milliseconds.
_CONTEXT = multiprocessing.get_context("forkserver")
# A child blocked without spending CPU (waiting on a lock it inherited, say) is ended after
# this many times its CPU budget of wall-clock time; a busy machine stretches a legitimate
# check, so the margin is wide.
WATCHDOG_FACTOR = 10
IN_FLIGHT = Gauge(
    "econsult_upload_inspections_in_flight",
    "Uploads waiting for or being inspected in the child processes, by lane",
    ["lane"],
)


class _Lane:
    """A pool of child processes, each used for one file and then replaced."""

    def __init__(self, name: str, processes: int, budget: Budget) -> None:
        self.name = name
        self._processes = processes
        self._budget = budget
        self._pool: ProcessPool | None = None

    def _running_pool(self) -> ProcessPool:
        if self._pool is None or not self._pool.active:
            if self._pool is not None:
                self._pool.stop()  # type: ignore[no-untyped-call]  # its threads end by themselves
            self._pool = ProcessPool(
                max_workers=self._processes,
                max_tasks=1,
                initializer=enter_budget,
                initargs=(self._budget,),
                context=_CONTEXT,
            )
        return self._pool

    async def check(self, content: bytes, media_type: str) -> None:
        # A pool breaks as a whole only when a child dies while none is at work (killed from
        # outside); the check is then tried once more in a new pool, and after that the
        # upload answers 503 with Retry-After, like any outage.
        for attempt in (1, 2):
            future = self._running_pool().schedule(
                check_within_budget,
                args=(content, media_type, self._budget),
                timeout=self._budget.cpu_seconds * WATCHDOG_FACTOR,
            )
            try:
                await asyncio.wrap_future(future)
                return
            except (ProcessExpired, TimeoutError, MemoryError) as error:
                raise OverBudget(
                    f"checking the file needed more than {self._budget.cpu_seconds} s of CPU "
                    f"or {self._budget.address_space_bytes // 2**20} MiB of memory"
                ) from error
            except BrokenProcessPool as error:
                if attempt == 2:
                    raise retry_later("uploads cannot be checked just now; try again") from error

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join(timeout=5)


class Inspector:
    """Checks uploads in child processes: images in one lane, PDFs in another."""

    def __init__(self, budget: Budget, processes_per_lane: int) -> None:
        # The forkserver imports the decoders once, and a script's main module as
        # multiprocessing does by default, which each child would otherwise import again.
        _CONTEXT.set_forkserver_preload(["__main__", enter_budget.__module__])
        self.budget = budget
        self._images = _Lane("image", processes_per_lane, budget)
        self._documents = _Lane("document", processes_per_lane, budget)

    @classmethod
    def from_settings(cls, settings: Settings) -> Inspector:
        return cls(Budget.from_settings(settings), settings.attachment_inspection_processes)

    async def accepted_type(self, content: bytes) -> str:
        """The media type of an acceptable file; RefusedFile, or OverBudget, otherwise."""
        media_type = claimed_type(content)
        lane = self._documents if media_type == PDF else self._images
        with IN_FLIGHT.labels(lane.name).track_inprogress():
            await lane.check(content, media_type)
        return media_type

    def close(self) -> None:
        self._images.close()
        self._documents.close()
