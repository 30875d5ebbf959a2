"""`python -m bench.inspection [--repeats N]`: what checking an upload costs, before and after
the checks moved into child processes under a budget.

Three everyday uploads, made on the spot with Pillow and pillow-heif: a 12 MP phone JPEG of
about 3 MB, a 12 MP HEIC, and a scanned 20-page A4 letter (300 dpi greyscale JPEG pages in a
PDF). Each is checked `--repeats` times in this process, as the API did before (a thread of
its own, `asyncio.to_thread`), and through the pool as the API does now (a fresh forkserver
child per file, under the default budget); the median wall time of each is printed, with the
child's CPU time, peak address space and resident memory from a separate measured run, so
the budget's defaults can be checked against them. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pebble import ProcessPool
from PIL import Image, ImageDraw

from api.file_content import heif_opener
from api.inspection import Inspector
from api.inspection_budget import PDF, Budget, check_within_budget, enter_budget
from bench.inspection.child import cpu_seconds, usage_of_one_check
from infra.settings import Settings

A4_AT_300_DPI = (2480, 3508)
PHONE_12_MP = (4032, 3024)


def _photo(size: tuple[int, int], grain: float) -> Image.Image:
    """A smooth scene with sensor grain: compresses about as a phone photo does."""
    width, height = size
    shade = Image.radial_gradient("L").resize(size)
    scene = Image.merge(
        "RGB",
        (
            shade,
            shade.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            Image.linear_gradient("L").resize(size),
        ),
    )
    return Image.blend(scene, Image.effect_noise((width, height), 24).convert("RGB"), grain)


def phone_jpeg() -> bytes:
    buffer = io.BytesIO()
    _photo(PHONE_12_MP, grain=0.2).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def phone_heic() -> bytes:
    heif_opener()
    buffer = io.BytesIO()
    # Less grain than the JPEG: x265 takes minutes over a grainy 12 MP picture.
    _photo(PHONE_12_MP, grain=0.05).save(buffer, format="HEIF", quality=60)
    return buffer.getvalue()


def scanned_letter(pages: int = 20) -> bytes:
    sheets = []
    for number in range(1, pages + 1):
        sheet = Image.new("L", A4_AT_300_DPI, 245)
        pen = ImageDraw.Draw(sheet)
        for line in range(60):
            text = f"Page {number}, line {line}: " + "the patient reports a rash " * 5
            pen.text((200, 200 + line * 52), text, fill=20)
        sheets.append(Image.blend(sheet, Image.effect_noise(A4_AT_300_DPI, 12).convert("L"), 0.05))
    buffer = io.BytesIO()
    sheets[0].save(
        buffer, format="PDF", save_all=True, append_images=sheets[1:], resolution=300, quality=60
    )
    return buffer.getvalue()


@dataclass(frozen=True)
class Upload:
    name: str
    media_type: str
    content: bytes


async def _medians(check: Callable[[], Awaitable[object]], repeats: int) -> tuple[float, float]:
    """Median wall ms and median CPU seconds of this process over `repeats` checks."""
    await check()  # the first: the pool and forkserver start, the decoders warm
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), cpu_seconds()
        await check()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


async def _in_fresh_children(upload: Upload, budget: Budget, repeats: int) -> list[float]:
    """(median CPU s, peak address space MiB, peak resident MiB) over `repeats` children."""
    context = multiprocessing.get_context("forkserver")
    runs = []
    with ProcessPool(1, 1, enter_budget, (budget,), context=context) as pool:
        for _ in range(repeats):
            future = pool.schedule(usage_of_one_check, (upload.content, upload.media_type, budget))
            runs.append(await asyncio.wrap_future(future))
    return [statistics.median(run[i] for run in runs) for i in range(3)]


async def measure(uploads: list[Upload], repeats: int) -> list[dict[str, object]]:
    inspector = Inspector.from_settings(Settings())
    budget = inspector.budget
    rows: list[dict[str, object]] = []
    try:
        for upload in uploads:

            def in_process(upload: Upload = upload) -> Awaitable[None]:
                return asyncio.to_thread(
                    check_within_budget, upload.content, upload.media_type, budget
                )

            def through_pool(upload: Upload = upload) -> Awaitable[str]:
                return inspector.accepted_type(upload.content)

            before_ms, before_cpu = await _medians(in_process, repeats)
            after_ms, _ = await _medians(through_pool, repeats)
            child_cpu, address_space, resident = await _in_fresh_children(upload, budget, repeats)
            rows.append(
                {
                    "file": upload.name,
                    "bytes": len(upload.content),
                    "before_ms": round(before_ms),
                    "before_cpu_s": round(before_cpu, 3),
                    "after_ms": round(after_ms),
                    "after_child_cpu_s": round(child_cpu, 3),
                    "child_peak_address_space_mib": int(address_space),
                    "child_peak_resident_mib": int(resident),
                }
            )
    finally:
        inspector.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    uploads = [
        Upload("12 MP phone JPEG", "image/jpeg", phone_jpeg()),
        Upload("12 MP HEIC", "image/heic", phone_heic()),
        Upload("scanned 20-page PDF", PDF, scanned_letter()),
    ]
    budget = Budget.from_settings(Settings())
    print(
        f"budget: {budget.cpu_seconds} s CPU, {budget.address_space_bytes // 2**20} MiB address "
        f"space, {budget.max_pixels // 1_000_000} MP, "
        f"{budget.max_inflated_bytes // 2**20} MiB inflated per PDF stream; median of {repeats}"
    )
    rows = asyncio.run(measure(uploads, repeats))
    columns = list(rows[0])[1:]
    print(f"{'file':<20}  " + "  ".join(columns))
    for row in rows:
        cells = "  ".join(f"{row[column]!s:>{len(column)}}" for column in columns)
        print(f"{row['file']!s:<20}  {cells}")
