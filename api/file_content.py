"""What an uploaded file must be: decoded whole as the type its first bytes claim.

A file is checked by its content, never by its name: the leading bytes say which type it
claims to be, then the whole file must decode as that type and end where that format ends, so
that nothing (an executable, a second file) rides along after a valid picture or letter.
PDFs have rules of their own (api/pdf_content.py). The checks run in a child process under a
budget (api/inspection.py); the limits they enforce themselves (pixels, inflated bytes) raise
OverBudget, like running out of CPU time or memory.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from functools import cache

import filetype
import pillow_heif
from PIL import Image

ACCEPTED_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/heic": "HEIC",
}
# filetype reads at most this many leading bytes to recognise a format.
SNIFF_BYTES = 8192

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RefusedFile(Exception):
    """The upload is not an acceptable file; the message says why, for the uploader."""


class OverBudget(RefusedFile):
    """Checking the upload needs more than one file may use (CPU, memory, pixels, inflation)."""


def claimed_type(content: bytes) -> str:
    """The accepted media type the leading bytes claim, or RefusedFile. Cheap: reads 8 KiB."""
    kind = filetype.guess(content[:SNIFF_BYTES])
    if kind is None or kind.mime not in ACCEPTED_TYPES:
        raise RefusedFile(
            f"the file content is not one of {', '.join(ACCEPTED_TYPES.values())} "
            "(checked by content, not by name)"
        )
    return str(kind.mime)


def check_image(content: bytes, media_type: str, *, max_pixels: int) -> None:
    """RefusedFile unless `content` decodes whole as the image type it claims; OverBudget past
    `max_pixels`, found from the header before anything is decoded."""
    pillow_format, label, find_end = _IMAGE_FORMATS[media_type]
    end = find_end(content)
    if end != len(content):
        raise RefusedFile(
            f"the {label} file carries {len(content) - end} bytes after its end marker"
        )
    if pillow_format == "HEIF":
        heif_opener()
    # Pillow refuses twice this many pixels at open by itself; the size is checked below.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(content), formats=[pillow_format]) as image:
            if image.format != pillow_format:
                raise RefusedFile(f"the file is {image.format}, not a plain {label} image")
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(max_pixels)
            image.load()
    except RefusedFile:
        raise
    except Image.DecompressionBombError as error:
        raise _too_many_pixels(max_pixels) from error
    except (OSError, ValueError, SyntaxError) as error:
        raise RefusedFile(f"the file does not decode as a {label} image") from error


def _too_many_pixels(max_pixels: int) -> OverBudget:
    return OverBudget(f"the image has more than {max_pixels / 1_000_000:g} megapixels")


# --- images ---------------------------------------------------------------------------------


def _png_end(content: bytes) -> int:
    """Offset just past the IEND chunk; every chunk's CRC checked on the way."""
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(content):
        length, chunk_type = struct.unpack(">I4s", content[offset : offset + 8])
        end = offset + 12 + int(length)
        if end > len(content):
            break
        (crc,) = struct.unpack(">I", content[end - 4 : end])
        if zlib.crc32(content[offset + 4 : end - 4]) != crc:
            raise RefusedFile("the PNG file is damaged (a chunk fails its checksum)")
        if chunk_type == b"IEND":
            return end
        offset = end
    raise RefusedFile("the PNG file is truncated (it has no end chunk)")


def _jpeg_end(content: bytes) -> int:
    """Offset just past the EOI marker that closes the image.

    Walks the segments by their lengths, so an FFD9 inside metadata (an EXIF thumbnail is a
    whole JPEG of its own) is skipped; only entropy-coded scan data is searched for markers.
    """
    size = len(content)
    offset = 2  # past SOI
    while offset + 1 < size:
        if content[offset] != 0xFF:
            raise RefusedFile("the JPEG file is damaged (a segment does not start with a marker)")
        marker = content[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
        elif marker == 0xD9:  # EOI
            return offset + 2
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            offset += 2
        else:
            if offset + 4 > size:
                break
            (length,) = struct.unpack(">H", content[offset + 2 : offset + 4])
            offset += 2 + length
            if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
                offset = _after_scan_data(content, offset)
    raise RefusedFile("the JPEG file is truncated (it has no end marker)")


def _after_scan_data(content: bytes, offset: int) -> int:
    """Offset of the first marker after scan data (FF00 stuffing and RSTn belong to the scan)."""
    while True:
        offset = content.find(b"\xff", offset)
        if offset < 0 or offset + 1 >= len(content):
            return len(content)
        following = content[offset + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            offset += 2
        elif following == 0xFF:
            offset += 1
        else:
            return offset


def _heic_end(content: bytes) -> int:
    """Offset just past the last top-level ISO BMFF box (boxes laid end to end)."""
    offset = 0
    while offset + 8 <= len(content):
        (box_size,) = struct.unpack(">I", content[offset : offset + 4])
        if box_size == 1:  # a 64-bit size follows the box type
            if offset + 16 > len(content):
                break
            (box_size,) = struct.unpack(">Q", content[offset + 8 : offset + 16])
        elif box_size == 0:  # the box runs to the end of the file
            return len(content)
        if box_size < 8:
            raise RefusedFile("the HEIC file is damaged (a box has an impossible size)")
        offset += box_size
    if offset != len(content):
        raise RefusedFile("the HEIC file is truncated or carries data after its last box")
    return offset


@cache
def heif_opener() -> None:
    """pillow-heif teaches Pillow HEIF; registered on first use, not at import."""
    pillow_heif.register_heif_opener()


_IMAGE_FORMATS: dict[str, tuple[str, str, Callable[[bytes], int]]] = {
    "image/jpeg": ("JPEG", "JPEG", _jpeg_end),
    "image/png": ("PNG", "PNG", _png_end),
    "image/heic": ("HEIF", "HEIC", _heic_end),
}
