"""What an uploaded PDF must be: a document that opens, shows, and does nothing by itself.

It must open with pypdf, not be encrypted (it could not be inspected), and carry nothing a
viewer on a clinician's desk might act on: JavaScript, launching a program, files carried
inside, forms that send or fetch data, links into other files, or a web address opened on its
own (a `/URI` action run when the document or a page opens). A link the reader clicks is
fine. Every object in the file is looked at, not only those the document tree reaches, and
names are compared as pypdf reads them, with `#xx` escapes decoded (`/J#61vaScript` is
`/JavaScript`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from api.file_content import OverBudget, RefusedFile

# Whitespace the PDF syntax allows after the final %%EOF (editors add a newline or padding).
_PDF_WHITESPACE = b" \t\r\n\f\x00"
# Keys whose mere presence makes a PDF act rather than show.
_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/XFA": "an XFA form (which carries scripts)",
    "/EmbeddedFiles": "an embedded file",
    "/EF": "an embedded file",
}
# (key, name value) pairs that do the same wherever they are.
_ACTIVE_NAMES = {
    ("/S", "/JavaScript"): "JavaScript",
    ("/S", "/Launch"): "a launch action",
    ("/S", "/GoToE"): "a link into an embedded file",
    ("/S", "/GoToR"): "a link into another file",
    ("/S", "/SubmitForm"): "a form that sends its data away",
    ("/S", "/ImportData"): "a form that fetches data from a file",
    ("/Type", "/EmbeddedFile"): "an embedded file",
    ("/Subtype", "/FileAttachment"): "an embedded file",
    ("/Subtype", "/RichMedia"): "embedded media",
}
# Keys whose actions a viewer runs by itself (on opening the document, a page, a field).
_AUTOMATIC_ACTION_KEYS = ("/OpenAction", "/AA")
# Filters whose output the inflated-bytes cap bounds, named as pypdf's Configuration does.
_INFLATE_LIMITS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "jbig2_maximum_output_length",
    "array_based_stream_maximum_output_length",
    "stream_decoding_work_maximum_length",
)


def check_pdf(content: bytes, *, max_inflated_bytes: int) -> None:
    """RefusedFile unless `content` is an inert PDF; OverBudget when one of its streams
    inflates past `max_inflated_bytes` (pypdf checks while decompressing, in bounded steps)."""
    if not content.rstrip(_PDF_WHITESPACE).endswith(b"%%EOF"):
        raise RefusedFile("the PDF file does not end with %%EOF (data follows the document)")
    limits = dict.fromkeys(_INFLATE_LIMITS, max_inflated_bytes)
    try:
        with apply_configuration(None, **limits):
            reader = PdfReader(io.BytesIO(content), strict=False)
            if reader.is_encrypted:
                raise RefusedFile("the PDF file is encrypted, so its content cannot be checked")
            if len(reader.pages) == 0:
                raise RefusedFile("the PDF file has no pages")
            active = _active_content(reader)
    except (RefusedFile, MemoryError):
        raise
    except LimitReachedError as error:
        raise OverBudget(
            f"a stream of the PDF file inflates to more than {max_inflated_bytes // 2**20} MiB"
        ) from error
    except Exception as error:  # pypdf raises many kinds of error on malformed input
        raise RefusedFile("the file does not open as a PDF document") from error
    if active is not None:
        raise RefusedFile(f"the PDF file contains {active}, which is not accepted")


def _every_object(reader: PdfReader) -> Iterator[PdfObject]:
    """The trailer, then every object the cross-reference lists, reached or not."""
    yield reader.trailer
    for generation, numbers in reader.xref.items():
        for number in numbers:
            yield IndirectObject(number, generation, reader)
    for number in reader.xref_objStm:
        yield IndirectObject(number, 0, reader)


def _active_content(reader: PdfReader) -> str | None:
    """What in the document would make a viewer act: the first found, or None."""
    pending: list[PdfObject | None] = list(_every_object(reader))
    seen: set[tuple[int, int]] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        if isinstance(item, DictionaryObject):  # stream objects included
            found = _active_entry(item)
            if found is not None:
                return found
            pending.extend(item.values())
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None


def _active_entry(item: DictionaryObject) -> str | None:
    for key, value in item.items():
        found = _ACTIVE_KEYS.get(key)
        if found is None and isinstance(value, NameObject):
            found = _ACTIVE_NAMES.get((key, value))
        if found is None and key in _AUTOMATIC_ACTION_KEYS:
            found = _automatic_web_address(value, key)
        if found is not None:
            return found
    return None


def _automatic_web_address(value: PdfObject, key: str) -> str | None:
    """A `/URI` action among those a viewer runs by itself: the open action (a destination
    array otherwise), each additional action (`/AA` maps events to actions), and every action
    chained after them by `/Next`."""
    resolved = value.get_object() if isinstance(value, IndirectObject) else value
    if not isinstance(resolved, DictionaryObject):
        return None
    pending: list[PdfObject] = list(resolved.values()) if key == "/AA" else [resolved]
    seen: set[int] = set()
    while pending:
        entry = pending.pop()
        action = entry.get_object() if isinstance(entry, IndirectObject) else entry
        if isinstance(action, ArrayObject):
            pending.extend(action)
            continue
        if not isinstance(action, DictionaryObject) or id(action) in seen:
            continue
        seen.add(id(action))
        if action.get("/S") == "/URI":
            return "a web address opened without the reader asking"
        if "/Next" in action:
            pending.append(action["/Next"])
    return None
