"""The clinician judges the patient's claimed exemption over HTTP (docs/copayment.md, "Claimed
exemptions"): a code that does not fit is 422 and nothing is written; an overruled claim is
charged, a replaced one exempt by the clinician's code, each with the reason on the charge."""

from __future__ import annotations

from typing import Any

import pytest

from store.tables import Charge, Message
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    create,
    rows,
    seed_clinicians,
    settled_copayment,
)

PREGNANT = {"exemption": "pregnancy_checkup"}


async def _claimed(api: Api, party: Party, **patient: Any) -> str:
    """A submitted case of a 46-year-old (born 1980) whose portal passed `patient` fields."""
    await seed_clinicians(api.http, party)
    body = {"id": party.patient, "birth_date": "1980-05-17", "frikort": False, **patient}
    return str((await create(api.http, party, patient=body))["id"])


async def _answer(api: Api, party: Party, cid: str, **fields: Any) -> dict[str, Any]:
    response = await api.http.post(
        f"/v1/consultations/{cid}/replies",
        json={"body": "Rest and fluids.", "attachment_ids": [], **fields},
        headers=party.doctor,
    )
    assert response.status_code == 200, response.text
    return await settled_copayment(api.http, cid, party.doctor)


async def _charge(api: Api, cid: str) -> Charge:
    async with api.sessions() as session:
        charge = await session.get(Charge, cid)
    assert charge is not None
    return charge


async def test_a_clinician_declaring_under_age_for_a_46_year_old_is_refused_with_422(
    any_api: Api,
) -> None:
    party = any_api.party()
    cid = await _claimed(any_api, party)
    before = await rows(any_api.sessions, Message, consultation_id=cid)

    response = await any_api.http.post(
        f"/v1/consultations/{cid}/replies",
        json={"body": "Rest.", "attachment_ids": [], "exemption": "under_age"},
        headers=party.doctor,
    )

    problem = assert_problem(response, 422)
    assert problem["type"].endswith("refused")
    assert "exemption 'under_age' is only for a patient younger than 16" in problem["detail"]
    assert await rows(any_api.sessions, Message, consultation_id=cid) == before
    assert await rows(any_api.sessions, Charge, consultation_id=cid) == 0


@pytest.mark.parametrize(
    ("word", "status", "code", "set_aside"),
    [
        ("none", "charged", None, "claimed 'pregnancy_checkup' overruled by the clinician"),
        (
            "occupational_injury",
            "exempt",
            "occupational_injury",
            "claimed 'pregnancy_checkup' replaced by the clinician with 'occupational_injury'",
        ),
    ],
    ids=["overruled with none: charged", "replaced: exempt by the clinician's code"],
)
async def test_a_claim_the_clinician_overrules_or_replaces(
    api: Api, word: str, status: str, code: str | None, set_aside: str
) -> None:
    party = api.party()
    cid = await _claimed(api, party, **PREGNANT)

    copayment = await _answer(api, party, cid, exemption=word)

    assert copayment["status"] == status
    charge = await _charge(api, cid)
    assert (charge.exemption, charge.claim_set_aside) == (code, set_aside)


async def test_a_portal_claim_the_age_does_not_fit_is_ignored_and_charged(api: Api) -> None:
    party = api.party()
    cid = await _claimed(api, party, exemption="psychotherapy_under_18")

    copayment = await _answer(api, party, cid)

    assert copayment["status"] == "charged"
    charge = await _charge(api, cid)
    assert charge.claim_set_aside is not None
    assert "psychotherapy_under_18" in charge.claim_set_aside
