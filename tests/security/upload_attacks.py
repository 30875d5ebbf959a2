"""Hostile uploads, built byte by byte in the tests: bombs, polyglots, PDFs that reach out.

PDFs are written by hand (not with pypdf's writer) so that the attack is exactly what is on
disk: object streams, names spelled with `#xx` escapes, actions pypdf would not write.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image

from tests.api import files


def _pdf(objects: dict[int, bytes], compressed: dict[int, tuple[int, int]] | None = None) -> bytes:
    """A PDF of `objects` (number -> body), object 1 the catalog, indexed by an xref stream
    so that objects may live in object streams (`compressed`: number -> (stream, index))."""
    compressed = compressed or {}
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = max([*objects, *compressed]) + 1
    offsets[xref] = out.tell()
    rows = b""
    for number in range(xref + 1):
        if number in offsets:
            rows += struct.pack(">BIH", 1, offsets[number], 0)
        elif number in compressed:
            rows += struct.pack(">BIH", 2, *compressed[number])
        else:
            rows += struct.pack(">BIH", 0, 0, 65535 if number == 0 else 0)
    out.write(
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n"
        % (xref, xref + 1, len(rows))
    )
    out.write(rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref])
    return out.getvalue()


_PAGES = {
    2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
}


def pdf_inflating_to_whitespace(streams: int, inflated_bytes: int) -> bytes:
    """Object streams that start with `inflated_bytes` of spaces: each inflates about a
    thousandfold, then pypdf reads the spaces one at a time before the stream's one object."""
    spaces = zlib.compressobj(9)
    # Compressed once, continued per stream from a copy of the compressor's state.
    prefix = spaces.compress(b" " * inflated_bytes)
    objects = dict(_PAGES)
    compressed = {}
    for index in range(streams):
        stream, inner = 4 + 2 * index, 5 + 2 * index
        header = b"%d 0 " % inner
        rest = spaces.copy()
        packed = prefix + rest.compress(header + b"<< /Padding true >>") + rest.flush()
        first = inflated_bytes + len(header)
        objects[stream] = (
            b"<< /Length %d /Filter /FlateDecode /Type /ObjStm /N 1 /First %d >>\nstream\n"
            % (len(packed), first)
            + packed
            + b"\nendstream"
        )
        compressed[inner] = (stream, 0)
    padding = b" ".join(b"%d 0 R" % (5 + 2 * index) for index in range(streams))
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R /Padding [%s] >>" % padding
    return _pdf(objects, compressed)


def pdf_with_flate_bomb() -> bytes:
    """One stream of 128 MiB of zeros in about 130 KB (zlib's ratio is near 1000:1)."""
    packed = zlib.compressobj(9)
    chunk = bytes(2**20)
    data = b"".join(packed.compress(chunk) for _ in range(128)) + packed.flush()
    objects = dict(_PAGES)
    objects[4] = (
        b"<< /Length %d /Filter /FlateDecode /Type /ObjStm /N 1 /First 4 >>\nstream\n" % len(data)
        + data
        + b"\nendstream"
    )
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R /Padding 5 0 R >>"
    return _pdf(objects, {5: (4, 0)})


# Names spelled with #xx escapes, which a PDF reader decodes: /U#52I is /URI.
ESCAPES = (
    (b"/S /URI /URI", b"/#53 /U#52I /URI"),
    (b"/OpenAction", b"/Open#41ction"),
    (b"/AA <<", b"/A#41 <<"),
    (b"/SubmitForm", b"/S#75bmitForm"),
    (b"/ImportData", b"/Imp#6FrtData"),
    (b"/GoToR", b"/GoT#6FR"),
    (b"/Launch", b"/L#61unch"),
    (b"/JavaScript /JS", b"/J#61vaScript /J#53"),
)


def escaped(body: bytes) -> bytes:
    for plain, spelled in ESCAPES:
        body = body.replace(plain, spelled)
    return body


def pdf_with_action(action: bytes, *, where: str = "open", escape: bool = False) -> bytes:
    """A one-page PDF running `action` (a dictionary) when it opens (`open`), when its page
    opens (`page`: additional actions), or when a link on the page is clicked (`link`), or
    holding it in an object nothing refers to (`nowhere`); with `escape`, its names spelled
    with #xx escapes."""
    objects = dict(_PAGES)
    objects[4] = action
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    if where == "open":
        catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    elif where == "page":
        objects[3] = objects[3][:-2] + b"/AA << /O 4 0 R >> >>"
    elif where == "link":
        objects[5] = b"<< /Type /Annot /Subtype /Link /Rect [0 0 50 50] /A 4 0 R >>"
        objects[3] = objects[3][:-2] + b"/Annots [5 0 R] >>"
    objects[1] = catalog
    if escape:
        objects = {number: escaped(body) for number, body in objects.items()}
    return _pdf(objects)


def png_of(width: int, height: int, mode: str = "L") -> bytes:
    """A blank PNG of this size (greyscale unless `mode` says): megapixels in a few hundred KB."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` with a few rows of data: a decoder that
    trusts the header allocates the whole bitmap before it finds the data short."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(width + 1) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim `width` x `height`."""
    content = bytearray(files.jpeg_with_exif_thumbnail())
    offset = 2  # walked by segment lengths: the EXIF thumbnail inside APP1 has a frame too
    while content[offset + 1] != 0xC0:
        offset += 2 + struct.unpack(">H", content[offset + 2 : offset + 4])[0]
    content[offset + 5 : offset + 9] = struct.pack(">HH", height, width)
    return bytes(content)


def png_then_pdf() -> bytes:
    """A valid PNG with a whole PDF after its IEND chunk: a picture to one reader, a letter
    to another."""
    return files.png() + files.pdf_with_javascript_open_action()


def jpeg_then_zip() -> bytes:
    """A valid JPEG with a zip archive appended (zip readers find it from the end)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("payload.exe", files.EXECUTABLE)
    return files.jpeg_with_exif_thumbnail() + archive.getvalue()
