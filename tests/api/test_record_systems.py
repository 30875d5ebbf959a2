"""A practice's record system fetches the attachments its journal entries link to, over HTTP.

The worker forwards journal entries to a real FHIR server; the link in the entry, as written
there, is the URL the record system fetches with its own token (scope econsult:record-system,
claim econsult:practice_id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.integrated import Delivering, api_delivering
from tests.api.support import (
    PNG,
    RECORD_SYSTEM,
    Party,
    assert_problem,
    bearer,
    case_with_attachment,
    eventually,
    unique,
)


@pytest.fixture(scope="module")
async def delivering(dev_env: WorkflowEnvironment, postgres_url: str) -> AsyncIterator[Delivering]:
    async with api_delivering(dev_env.client, postgres_url) as api:
        yield api


async def _case_with_attachment(api: Delivering, party: Party) -> tuple[str, str]:
    """A submitted case of the party's practice with one attachment: (case id, the link in
    its journal entry, once the record system holds it)."""
    case_id, _ = await case_with_attachment(api.http, party, "A photo of the rash.")

    async def entries() -> list[dict[str, Any]]:
        return [
            resource
            for resource in api.fhir.resources.values()
            if resource["about"][0]["identifier"]["value"] == case_id
        ]

    (entry,) = await eventually(entries, bool, within=60)
    (link,) = [
        part["contentAttachment"]["url"] for part in entry["payload"] if "contentAttachment" in part
    ]
    return case_id, link


async def test_a_record_system_fetches_the_link_in_its_practices_entry_also_after_a_reassign(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    case_id, link = await _case_with_attachment(delivering, party)
    record_system = party.record_system(sub="epj-a")

    fetched = await delivering.http.get(link, headers=record_system)

    # The link names this API (the worker's PUBLIC_API_URL), and is fetched as it is.
    assert link.startswith(f"{str(delivering.http.base_url).rstrip('/')}/v1/attachments/")
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == PNG
    moved = await delivering.http.post(
        f"/v1/consultations/{case_id}/reassign",
        json={"recipient_id": party.substitute, "reason": "Dr. Fastlege is ill."},
        headers=party.practice_admin(),
    )
    assert moved.status_code == 200, moved.text
    assert (await delivering.http.get(link, headers=record_system)).content == PNG
    log = await delivering.http.get(
        f"/v1/consultations/{case_id}/access-log", headers=party.service
    )
    reads = [(entry["actor_id"], entry["role"], entry["action"]) for entry in log.json()["entries"]]
    assert reads.count(("epj-a", "record-system", "attachment")) == 2


async def test_another_practices_record_system_gets_404(delivering: Delivering) -> None:
    party = delivering.party()
    _, link = await _case_with_attachment(delivering, party)

    foreign = await delivering.http.get(link, headers=party.record_system(unique("practice")))

    assert_problem(foreign, 404)


async def test_a_record_system_token_without_its_practice_is_403(delivering: Delivering) -> None:
    party = delivering.party()
    _, link = await _case_with_attachment(delivering, party)
    no_practice = bearer(delivering.tokens.mint(RECORD_SYSTEM, sub="epj-without-practice"))

    assert_problem(await delivering.http.get(link, headers=no_practice), 403)


async def test_a_record_system_reads_attachments_only_not_consultations(
    delivering: Delivering,
) -> None:
    party = delivering.party()
    case_id, _ = await _case_with_attachment(delivering, party)

    read = await delivering.http.get(f"/v1/consultations/{case_id}", headers=party.record_system())

    assert_problem(read, 403)
