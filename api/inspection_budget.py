"""What runs in the child process that checks one upload: its budget, and the check.

Kept apart from the pool (api/inspection.py) so that the forkserver, and every child forked
from it, imports the decoders and nothing of the web application.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.file_content import check_image, heif_opener
from api.pdf_content import check_pdf

if TYPE_CHECKING:
    from infra.settings import Settings

PDF = "application/pdf"


@dataclass(frozen=True)
class Budget:
    """What inspecting one file may use."""

    cpu_seconds: int
    address_space_bytes: int
    max_pixels: int
    max_inflated_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        return cls(
            cpu_seconds=settings.attachment_inspection_cpu_seconds,
            address_space_bytes=settings.attachment_inspection_memory_mib * 2**20,
            max_pixels=settings.attachment_max_megapixels * 1_000_000,
            max_inflated_bytes=settings.attachment_pdf_max_inflated_mib * 2**20,
        )


def enter_budget(budget: Budget) -> None:
    """In a new child, before its one file: the kernel's limits, for this process only."""
    heif_opener()  # before the limits: registering is set-up, not the file's cost
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a child ended by SIGXCPU leaves no core
    # SIGXCPU at the soft limit ends the process; SIGKILL a second later if it is caught.
    resource.setrlimit(resource.RLIMIT_CPU, (budget.cpu_seconds, budget.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (budget.address_space_bytes, budget.address_space_bytes))


def check_within_budget(content: bytes, media_type: str, budget: Budget) -> None:
    """In the child: RefusedFile unless the file is acceptable, OverBudget past a limit."""
    if media_type == PDF:
        check_pdf(content, max_inflated_bytes=budget.max_inflated_bytes)
    else:
        check_image(content, media_type, max_pixels=budget.max_pixels)
