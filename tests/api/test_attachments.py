"""Attachments: what is accepted, what is refused (and not stored), and who may read one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from store.tables import Attachment, Consultation, Message
from tests.api import files
from tests.api.support import (
    PDF,
    PNG,
    Api,
    Party,
    assert_problem,
    create,
    rows,
    seed_clinicians,
    upload,
)
from tests.support import sha256

MAX = 10 * 1024 * 1024


async def test_upload_stores_a_pdf_recognised_by_content_with_its_digest(
    api: Api, party: Party
) -> None:
    response = await upload(api.http, party.service, PDF, "letter.bin")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == "application/pdf"
    assert body["filename"] == "letter.bin"
    assert body["size"] == len(PDF)
    assert body["sha256"] == sha256(PDF)
    assert set(body) == {"id", "filename", "content_type", "size", "sha256", "missing"}
    assert body["missing"] is False


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"%PDF" + b"x" * MAX, "big.pdf", "larger than 10 MiB"),
        (b"just some text, not a PDF at all", "report.pdf", "not one of"),
        (b"", "empty.png", "empty"),
    ],
    ids=["just_over_10_mb", "text_named_pdf", "empty"],
)
async def test_upload_refuses_oversize_wrong_type_and_empty_files_and_stores_nothing(
    api: Api, party: Party, content: bytes, name: str, reason: str
) -> None:
    response = await upload(api.http, party.service, content, name)
    problem = assert_problem(response, 422)
    assert reason in problem["detail"]
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (files.png(), "image/png"),
        (files.jpeg_with_exif_thumbnail(), "image/jpeg"),
        (files.heic(), "image/heic"),
        (files.pdf(), "application/pdf"),
    ],
    ids=["png", "jpeg_with_exif_thumbnail", "heic", "pdf"],
)
async def test_files_that_decode_whole_are_stored_and_served_only_as_downloads(
    api: Api, party: Party, content: bytes, content_type: str
) -> None:
    response = await upload(api.http, party.service, content, "røntgen bilde.bin")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == content_type

    served = await api.http.get(f"/v1/attachments/{response.json()['id']}", headers=party.service)
    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-type"] == content_type
    assert served.headers["content-disposition"] == (
        "attachment; filename=\"r_ntgen bilde.bin\"; filename*=UTF-8''r%C3%B8ntgen%20bilde.bin"
    )
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "no-store"


def _after_scan(jpeg: bytes) -> bytes:
    """The JPEG cut in the middle of its compressed picture."""
    return jpeg[: jpeg.rindex(b"\xff\xda") + 40]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (files.png()[:8] + files.EXECUTABLE, "PNG file is truncated"),
        (files.png() + files.EXECUTABLE, "bytes after its end marker"),
        (files.jpeg_with_exif_thumbnail() + files.EXECUTABLE, "bytes after its end marker"),
        (files.png()[:-30], "PNG file is truncated"),
        (_after_scan(files.jpeg_with_exif_thumbnail()), "JPEG file is truncated"),
        (files.heic()[:-40], "HEIC file is truncated"),
        (files.heic() + files.EXECUTABLE, "HEIC file is truncated or carries data"),
        (b"\xff\xd8\xff\xe0" + files.EXECUTABLE, "JPEG file"),
        (files.pdf_with_javascript_in_the_names_tree(), "contains JavaScript"),
        (files.pdf_with_javascript_open_action(), "contains JavaScript"),
        (files.pdf_with_escaped_javascript_names(), "contains JavaScript"),
        (files.pdf_with_launch_action(), "contains a launch action"),
        (files.pdf_with_embedded_file(), "contains an embedded file"),
        (files.pdf_with_file_attachment_annotation(), "contains an embedded file"),
        (files.encrypted_pdf(), "encrypted"),
        (b"%PDF-1.7\n" + files.EXECUTABLE, "does not end with %%EOF"),
        (files.pdf() + files.EXECUTABLE, "does not end with %%EOF"),
        (b"%PDF-1.7\n" + files.EXECUTABLE + b"\n%%EOF\n", "does not open as a PDF"),
    ],
    ids=[
        "png_signature_then_executable",
        "data_after_png_iend",
        "data_after_jpeg_eoi_with_exif_thumbnail",
        "truncated_png",
        "truncated_jpeg",
        "truncated_heic",
        "data_after_heic",
        "jpeg_signature_then_executable",
        "pdf_with_javascript_in_names_tree",
        "pdf_with_javascript_open_action",
        "pdf_with_escaped_javascript_names",
        "pdf_with_launch_action",
        "pdf_with_embedded_file",
        "pdf_with_file_attachment_annotation",
        "encrypted_pdf",
        "pdf_header_then_executable",
        "data_after_pdf_eof",
        "pdf_header_executable_and_eof",
    ],
)
async def test_disguised_or_damaged_files_are_refused_and_nothing_is_stored(
    api: Api, party: Party, content: bytes, reason: str
) -> None:
    response = await upload(api.http, party.service, content, "harmless.png")
    problem = assert_problem(response, 422)
    assert reason in problem["detail"]
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 0


async def test_upload_refuses_a_streamed_body_past_the_limit_without_content_length(
    api: Api, party: Party
) -> None:
    boundary = uuid.uuid4().hex

    async def chunked_body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF'
        ).encode()
        for _ in range(40):  # 40 MB offered, without a Content-Length
            yield b"0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.http.post(
        "/v1/attachments",
        content=chunked_body(),
        headers={**party.service, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    problem = assert_problem(response, 422)
    assert "larger than 10 MiB" in problem["detail"]
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 0


async def test_upload_without_the_file_field_is_refused(api: Api, party: Party) -> None:
    response = await api.http.post(
        "/v1/attachments", files={"document": ("x.png", PNG)}, headers=party.service
    )
    assert_problem(response, 422)
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 0


async def test_a_message_with_more_than_five_attachments_is_refused_and_nothing_is_stored(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    ids = [(await upload(api.http, party.service)).json()["id"] for _ in range(6)]
    body = {"body": "Six pictures.", "attachment_ids": ids}
    response = await api.http.post(
        "/v1/consultations",
        json={
            "patient": {"id": party.patient, "birth_date": "1980-05-17"},
            "clinician_id": party.clinician,
            "copayment_accepted": True,
            "message": body,
        },
        headers=party.service,
    )
    assert_problem(response, 422)
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 0
    async with api.sessions() as session:
        bound = await session.scalars(select(Attachment.message_id).where(Attachment.id.in_(ids)))
        assert set(bound) == {None}


async def test_attachment_is_readable_by_the_portal_and_the_recipient_but_not_another_clinician(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    attachment = (await upload(api.http, party.service, PDF, "lab.pdf")).json()
    case = await api.http.post(
        "/v1/consultations",
        json={
            "patient": {"id": party.patient, "birth_date": "1980-05-17"},
            "clinician_id": party.clinician,
            "copayment_accepted": True,
            "message": {"body": "Lab results attached.", "attachment_ids": [attachment["id"]]},
        },
        headers=party.service,
    )
    assert case.status_code == 201, case.text
    url = f"/v1/attachments/{attachment['id']}"
    as_recipient = await api.http.get(url, headers=party.doctor)
    assert as_recipient.status_code == 200
    assert as_recipient.content == PDF
    assert as_recipient.headers["content-type"] == "application/pdf"
    assert (await api.http.get(url, headers=party.service)).content == PDF
    assert_problem(await api.http.get(url, headers=party.other_clinician()), 404)
    assert_problem(await api.http.get("/v1/attachments/unknown", headers=party.doctor), 404)


async def test_an_unbound_attachment_is_visible_only_to_its_uploader(
    api: Api, party: Party
) -> None:
    attachment = (await upload(api.http, party.service)).json()
    url = f"/v1/attachments/{attachment['id']}"
    assert (await api.http.get(url, headers=party.service)).content == PNG
    other_portal = Party(api.tokens)
    assert_problem(await api.http.get(url, headers=other_portal.service), 404)
    assert_problem(await api.http.get(url, headers=party.doctor), 404)


async def test_an_attachment_cannot_be_put_into_two_messages(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    attachment = (await upload(api.http, party.service)).json()
    first = await create(
        api.http,
        party,
        message=None,
    )
    sent = await api.http.post(
        f"/v1/consultations/{first['id']}/submit",
        json={"body": "Picture.", "attachment_ids": [attachment["id"]]},
        headers=party.service,
    )
    assert sent.status_code == 200, sent.text
    second = await api.http.post(
        "/v1/consultations",
        json={
            "patient": {"id": party.patient, "birth_date": "1980-05-17"},
            "clinician_id": party.clinician,
            "copayment_accepted": True,
            "message": {"body": "Same picture.", "attachment_ids": [attachment["id"]]},
        },
        headers=party.service,
    )
    assert_problem(second, 422)
    assert await rows(api.sessions, Message, consultation_id=first["id"]) == 1
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 1
