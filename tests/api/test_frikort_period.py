"""The frikort register over HTTP keeps a period within one calendar year (docs/copayment.md):
one from 31 December to 1 January is refused (422 `refused`) and nothing is written."""

from __future__ import annotations

import httpx
import pytest

from store.tables import Frikort
from tests.api.support import Api, Party, assert_problem, rows


async def put_frikort(api: Api, party: Party, valid_from: str, valid_to: str) -> httpx.Response:
    return await api.http.put(
        f"/v1/patients/{party.patient}/frikort",
        json={"valid_from": valid_from, "valid_to": valid_to},
        headers=party.admin,
    )


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [("2026-12-31", "2027-01-01"), ("2026-09-01", "2027-03-01")],
    ids=["31-december-to-1-january", "september-to-march"],
)
async def test_a_frikort_period_into_the_next_year_is_refused(
    api: Api, party: Party, valid_from: str, valid_to: str
) -> None:
    response = await put_frikort(api, party, valid_from, valid_to)

    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:econsult:problem:refused"
    assert "within one calendar year" in problem["detail"]
    assert await rows(api.sessions, Frikort, patient_id=party.patient) == 0


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [("2026-09-01", "2026-12-31"), ("2027-01-01", "2027-01-01")],
    ids=["to-31-december", "from-1-january"],
)
async def test_a_frikort_period_ending_on_31_december_or_starting_on_1_january_is_recorded(
    api: Api, party: Party, valid_from: str, valid_to: str
) -> None:
    response = await put_frikort(api, party, valid_from, valid_to)

    assert response.status_code == 200, response.text
    assert await rows(api.sessions, Frikort, patient_id=party.patient) == 1
