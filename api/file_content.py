"""What an uploaded file must be: decoded whole as the type its first bytes claim.

A file is checked by its content, never by its name: the leading bytes say which type it
claims to be, then the whole file must decode as that type and end where that format ends, so
that nothing (an executable, a second file) rides along after a valid picture or letter.
PDFs must also be inert: not encrypted (it could not be inspected), and without JavaScript,
launch actions or embedded files, which a viewer on a clinician's desk might act on.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from functools import cache, partial

import filetype
import pillow_heif
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

ACCEPTED_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/heic": "HEIC",
}
# filetype reads at most this many leading bytes to recognise a format.
SNIFF_BYTES = 8192
# Decoding holds the whole bitmap in memory; 64 megapixels is above any phone camera's
# default and keeps one decode at a few hundred MB.
MAX_IMAGE_PIXELS = 64_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Whitespace the PDF syntax allows after the final %%EOF (editors add a newline or padding).
_PDF_WHITESPACE = b" \t\r\n\f\x00"
# Keys and name values that make a PDF act rather than show: scripts, launching programs,
# files carried inside, interactive media.
_PDF_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/XFA": "an XFA form (which carries scripts)",
    "/EmbeddedFiles": "an embedded file",
    "/EF": "an embedded file",
}
_PDF_ACTIVE_NAMES = {
    ("/S", "/JavaScript"): "JavaScript",
    ("/S", "/Launch"): "a launch action",
    ("/S", "/GoToE"): "a link into an embedded file",
    ("/Type", "/EmbeddedFile"): "an embedded file",
    ("/Subtype", "/FileAttachment"): "an embedded file",
    ("/Subtype", "/RichMedia"): "embedded media",
}


class RefusedFile(Exception):
    """The upload is not an acceptable file; the message says why, for the uploader."""


def accepted_type(content: bytes) -> str:
    """The media type of an acceptable file, or RefusedFile. CPU-bound: run it off the loop."""
    kind = filetype.guess(content[:SNIFF_BYTES])
    if kind is None or kind.mime not in ACCEPTED_TYPES:
        raise RefusedFile(
            f"the file content is not one of {', '.join(ACCEPTED_TYPES.values())} "
            "(checked by content, not by name)"
        )
    _CHECKS[kind.mime](content)
    return str(kind.mime)


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
def _heif_opener() -> None:
    """pillow-heif teaches Pillow HEIF; registered on first use, not at import."""
    pillow_heif.register_heif_opener()


def _check_image(
    content: bytes, *, pillow_format: str, label: str, find_end: Callable[[bytes], int]
) -> None:
    end = find_end(content)
    if end != len(content):
        raise RefusedFile(
            f"the {label} file carries {len(content) - end} bytes after its end marker"
        )
    if pillow_format == "HEIF":
        _heif_opener()
    try:
        with Image.open(io.BytesIO(content), formats=[pillow_format]) as image:
            if image.format != pillow_format:
                raise RefusedFile(f"the file is {image.format}, not a plain {label} image")
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise RefusedFile(
                    f"the image has more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels"
                )
            image.load()
    except RefusedFile:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise RefusedFile(f"the file does not decode as a {label} image") from error


# --- PDF ------------------------------------------------------------------------------------


def _check_pdf(content: bytes) -> None:
    if not content.rstrip(_PDF_WHITESPACE).endswith(b"%%EOF"):
        raise RefusedFile("the PDF file does not end with %%EOF (data follows the document)")
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise RefusedFile("the PDF file is encrypted, so its content cannot be checked")
        if len(reader.pages) == 0:
            raise RefusedFile("the PDF file has no pages")
        active = _pdf_active_content(reader.trailer)
    except RefusedFile:
        raise
    except Exception as error:  # pypdf raises many kinds of error on malformed input
        raise RefusedFile("the file does not open as a PDF document") from error
    if active is not None:
        raise RefusedFile(f"the PDF file contains {active}, which is not accepted")


def _pdf_active_content(trailer: PdfObject) -> str | None:
    """What, reachable from the trailer, would make a viewer act: the first found, or None."""
    pending: list[PdfObject] = [trailer]
    seen: set[tuple[int, int]] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            resolved = item.get_object()
            if resolved is None:
                continue
            item = resolved
        if isinstance(item, DictionaryObject):  # stream objects included
            for key, value in item.items():
                found = _PDF_ACTIVE_KEYS.get(key)
                if found is None and isinstance(value, NameObject):
                    found = _PDF_ACTIVE_NAMES.get((key, value))
                if found is not None:
                    return found
                pending.append(value)
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None


_CHECKS: dict[str, Callable[[bytes], None]] = {
    "application/pdf": _check_pdf,
    "image/jpeg": partial(_check_image, pillow_format="JPEG", label="JPEG", find_end=_jpeg_end),
    "image/png": partial(_check_image, pillow_format="PNG", label="PNG", find_end=_png_end),
    "image/heic": partial(_check_image, pillow_format="HEIF", label="HEIC", find_end=_heic_end),
}
