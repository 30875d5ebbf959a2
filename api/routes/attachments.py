"""Attachments: uploaded first (claim check), referenced by id in a message, read by its parties.

The upload is parsed from the raw stream so that reading stops once it is past the limit,
instead of spooling an arbitrarily large body before looking at it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.auth import AttachmentReader, Caller, PartyCaller, Scope
from api.file_content import ACCEPTED_TYPES, OverBudget, RefusedFile
from api.openapi import ATTACHMENT_READERS, PARTIES
from api.problems import (
    AUTHENTICATED,
    Problem,
    invalid,
    not_found,
    over_budget,
    problem_responses,
    refusal_responses,
    refused,
)
from api.schemas import AttachmentOut
from api.services import Deps
from domain.base import Identifier

router = APIRouter(prefix="/v1/attachments", responses=problem_responses(*AUTHENTICATED, 404))

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
# The plain `filename=` fallback for clients without RFC 6266 `filename*`: no quotes,
# separators or non-ASCII, so it cannot break out of the header value.
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._ -]")

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One file in the multipart field `file`: PDF, JPEG, PNG or HEIC, at most 10 MiB "
            "(10,485,760 bytes). "
            "The content is checked by decoding it, not by its name or declared type; "
            "anything else is refused with 422 and nothing is stored, as is a file whose "
            "check needs more CPU time, memory, pixels or inflated bytes than allowed "
            "(problem type upload-over-budget)."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "AttachmentUpload",
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, JPEG, PNG or HEIC; at most 10 MiB",
                        }
                    },
                },
                "encoding": {"file": {"contentType": ", ".join(ACCEPTED_TYPES)}},
            }
        },
    }
}


# The file as stored, in the type its content was recognised as: bytes, not JSON, so that
# generated clients hand the caller the file (OpenAPI 3.1 `contentMediaType`; `format: binary`
# for generators that still read the 3.0 form).
_DOWNLOAD = {
    "description": "The file, in the type its content was recognised as at upload.",
    "content": {
        media_type: {
            "schema": {"type": "string", "format": "binary", "contentMediaType": media_type}
        }
        for media_type in ACCEPTED_TYPES
    },
    "headers": {
        "Content-Disposition": {
            "description": "`attachment`, with the file's name plain and in RFC 5987 form",
            "schema": {"type": "string"},
        }
    },
}


class _TooLarge(Exception):
    pass


def too_large() -> Problem:
    limit = MAX_ATTACHMENT_BYTES
    return refused(f"the file is larger than {limit // 2**20} MiB ({limit:,} bytes)")


async def _at_most(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _TooLarge
        yield chunk


def _safe_filename(name: str | None) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    return _UNPRINTABLE.sub("", base).strip()[:255] or "attachment"


async def _read_upload(request: Request) -> tuple[str, bytes]:
    """The `file` part of a multipart body: (filename, content), at most the size limit."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise invalid("send the file as multipart/form-data in the field `file`")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ATTACHMENT_BYTES + MULTIPART_OVERHEAD:
        raise too_large()
    parser = MultiPartParser(
        request.headers,
        _at_most(request.stream(), MAX_ATTACHMENT_BYTES + MULTIPART_OVERHEAD),
        max_files=1,
        max_fields=10,
    )
    try:
        form = await parser.parse()
    except _TooLarge as error:
        raise too_large() from error
    except MultiPartException as error:
        raise invalid(f"malformed multipart body: {error.message}") from error
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid("the multipart field `file` is missing")
        content = await upload.read(MAX_ATTACHMENT_BYTES + 1)
        return _safe_filename(upload.filename), content
    finally:
        await form.close()


@router.post(
    "",
    operation_id="uploadAttachment",
    tags=PARTIES,
    status_code=201,
    response_model=AttachmentOut,
    openapi_extra=_UPLOAD_BODY,
    responses=refusal_responses(
        "the file is empty or larger than 10 MiB (10,485,760 bytes)",
        "the content is not a whole PDF, JPEG, PNG or HEIC file, whatever its name says",
        "a PDF is encrypted or carries JavaScript, launch actions or embedded files",
        also=("upload-over-budget",),
    ),
)
async def upload_attachment(request: Request, caller: PartyCaller, services: Deps) -> AttachmentOut:
    """Store a PDF, JPEG, PNG or HEIC file (at most 10 MiB) for a later message.

    The file must decode whole as the type its content claims, with nothing after its end,
    within the inspection budget (CPU time, memory, at most 60 megapixels by default); a PDF
    must not be encrypted nor carry JavaScript, launch actions, embedded files, forms that
    send or fetch data, links into other files or a web address opened by itself.
    """
    filename, content = await _read_upload(request)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise too_large()
    if not content:
        raise refused("the file is empty")
    try:
        # Decoded in a child process under a budget: the API's loop and threads only wait.
        content_type = await services.inspector.accepted_type(content)
    except OverBudget as refusal:
        raise over_budget(str(refusal)) from refusal
    except RefusedFile as refusal:
        raise refused(str(refusal)) from refusal
    stored = await services.attachments.add(
        attachment_id=uuid.uuid4().hex,
        uploaded_by=caller.actor_id,
        filename=filename,
        content_type=content_type,
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
    return AttachmentOut.model_validate(stored.model_dump())


async def _may_read(services: Deps, caller: Caller, uploaded_by: str, case_id: str | None) -> bool:
    if case_id is None:
        # Not in a message yet: only its uploader has a reason to see it (a record system
        # uploads nothing, whatever its subject).
        return caller.scope != Scope.RECORD_SYSTEM and uploaded_by == caller.actor_id
    if caller.is_service:
        return True
    case = await services.queries.summary(case_id)
    if case is None:
        return False
    if caller.scope == Scope.RECORD_SYSTEM:
        # The practice keeps the record whoever of its clinicians answers (a reassignment).
        return case.practice_id == caller.practice_id
    return case.recipient_id == caller.hpr_number


@router.get(
    "/{attachment_id}",
    operation_id="downloadAttachment",
    tags=ATTACHMENT_READERS,
    response_class=Response,
    responses={200: _DOWNLOAD, **problem_responses(410)},
)
async def download_attachment(
    attachment_id: Annotated[Identifier, Path()], caller: AttachmentReader, services: Deps
) -> Response:
    """The file, to the parties of its consultation and to its practice's record system (the
    link in the journal entry); the read goes into the access log."""
    found = await services.attachments.get(attachment_id)
    if found is None or not await _may_read(
        services, caller, found.info.uploaded_by, found.info.consultation_id
    ):
        raise not_found("attachment")
    if found.info.missing:
        raise Problem(410, "the content of this attachment was lost and could not be restored")
    if found.info.consultation_id is not None:
        await services.access_log.record(
            found.info.consultation_id, caller.actor_id, caller.role, "attachment"
        )
    return Response(
        found.content,
        media_type=found.info.content_type,
        headers={
            "Content-Disposition": _content_disposition(found.info.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _content_disposition(filename: str) -> str:
    """Always a download, never shown inline; the name both plain and in RFC 5987 form."""
    plain = _NOT_PLAIN.sub("_", filename) or "attachment"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
