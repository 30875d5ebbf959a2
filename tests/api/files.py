"""Uploads built in the test: valid files of each accepted type, and files disguised as them."""

from __future__ import annotations

import io
import struct
from functools import cache

import pillow_heif
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

# An ELF header and a few bytes of "program", what a disguised executable starts with.
EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 64


def _picture() -> Image.Image:
    image = Image.new("RGB", (64, 48), (180, 40, 40))
    for x in range(64):
        image.putpixel((x, x % 48), (x * 4, 255 - x * 4, 90))
    return image


def png() -> bytes:
    buffer = io.BytesIO()
    _picture().save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_with_exif_thumbnail() -> bytes:
    """A JPEG whose EXIF (APP1) holds a whole JPEG thumbnail, with its own FFD9 end marker."""
    thumbnail = io.BytesIO()
    _picture().resize((16, 12)).save(thumbnail, format="JPEG")
    # Little-endian TIFF: IFD0 (orientation) -> IFD1 (where the thumbnail is), then the
    # thumbnail; offsets count from the TIFF header.
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 1, 0) + struct.pack("<I", 26)
    ifd1_entries = struct.pack("<H", 2)
    ifd1_entries += struct.pack("<HHII", 0x0201, 4, 1, 26 + 2 + 2 * 12 + 4)
    ifd1_entries += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail.getvalue()))
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1_entries + struct.pack("<I", 0)
    buffer = io.BytesIO()
    _picture().save(buffer, format="JPEG", exif=b"Exif\x00\x00" + tiff + thumbnail.getvalue())
    content = buffer.getvalue()
    assert content.count(b"\xff\xd9") == 2, "the thumbnail's end marker should be inside"
    return content


@cache
def heic() -> bytes:
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    _picture().save(buffer, format="HEIF", quality=60)
    return buffer.getvalue()


def _pdf(build: object = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if callable(build):
        build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf() -> bytes:
    return _pdf()


def _action(writer: PdfWriter, kind: str, **entries: str) -> IndirectObject:
    action = DictionaryObject({NameObject("/Type"): NameObject("/Action")})
    action[NameObject("/S")] = NameObject(kind)
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = TextStringObject(value)
    return writer._add_object(action)


def pdf_with_javascript_in_the_names_tree() -> bytes:
    def build(writer: PdfWriter) -> None:
        script = _action(writer, "/JavaScript", JS="app.alert('hello');")
        names = DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("greeting"), script])}
        )
        writer._root_object[NameObject("/Names")] = DictionaryObject(
            {NameObject("/JavaScript"): writer._add_object(names)}
        )

    return _pdf(build)


def pdf_with_javascript_open_action() -> bytes:
    def build(writer: PdfWriter) -> None:
        writer._root_object[NameObject("/OpenAction")] = _action(
            writer, "/JavaScript", JS="this.exportDataObject({cName: 'x', nLaunch: 2});"
        )

    return _pdf(build)


def pdf_with_escaped_javascript_names() -> bytes:
    """The same open action with its names spelled in #xx escapes, as evasive files do."""
    plain = pdf_with_javascript_open_action()
    return plain.replace(b"/JS ", b"/J#53").replace(b"/JavaScript", b"/Java#53cript")


def pdf_with_launch_action() -> bytes:
    def build(writer: PdfWriter) -> None:
        writer._root_object[NameObject("/OpenAction")] = _action(writer, "/Launch", F="calc.exe")

    return _pdf(build)


def pdf_with_embedded_file() -> bytes:
    return _pdf(lambda writer: writer.add_attachment("payload.exe", EXECUTABLE))


def pdf_with_file_attachment_annotation() -> bytes:
    def build(writer: PdfWriter) -> None:
        stream = DecodedStreamObject()
        stream.set_data(EXECUTABLE)
        stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
        annotation = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/FileAttachment"),
                NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (0, 0, 20, 20)]),
                NameObject("/FS"): DictionaryObject(
                    {
                        NameObject("/Type"): NameObject("/Filespec"),
                        NameObject("/F"): TextStringObject("payload.exe"),
                        NameObject("/EF"): DictionaryObject(
                            {NameObject("/F"): writer._add_object(stream)}
                        ),
                    }
                ),
            }
        )
        writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])

    return _pdf(build)


def encrypted_pdf() -> bytes:
    return _pdf(lambda writer: writer.encrypt("secret", algorithm="AES-256"))
