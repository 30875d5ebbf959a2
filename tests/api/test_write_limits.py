"""The write limit per patient, beside the one per caller: one patient's flood through the
portal is refused (429 with Retry-After) while the portal's other patients go on, and a
request refused for its patient does not spend the portal's allowance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.rate_limits import RateLimit
from tests.api.support import (
    ADMIN,
    Api,
    Party,
    api_over_http,
    assert_problem,
    bearer,
    clinician_body,
    create_body,
    today,
    unique,
)

PATIENT_BURST = 2
CALLER_BURST = 4
# Nothing refills while a test runs.
SLOW = 0.001


@pytest.fixture(scope="module")
async def limited(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    async with api_over_http(
        dev_env.client,
        sqlite_url,
        settings={
            "api_patient_write_burst": PATIENT_BURST,
            "api_patient_write_rate_per_second": SLOW,
        },
        rate_limit=RateLimit(per_second=SLOW, burst=CALLER_BURST),
    ) as api:
        yield api


async def _portal_of(api: Api, *patients: str) -> Party:
    """A portal and a clinician every one of `patients` may write to. Each admin call is its
    own caller, so seeding spends no allowance a test counts."""
    party = api.party()

    def admin() -> dict[str, str]:
        return bearer(api.tokens.mint(ADMIN, sub=unique("ops")))

    entry = await api.http.put(
        f"/v1/clinicians/{party.clinician}", json=clinician_body(party.practice), headers=admin()
    )
    assert entry.status_code in (200, 201), entry.text
    since = (today() - timedelta(days=365)).isoformat()
    for patient in patients:
        relation = await api.http.put(
            f"/v1/patients/{patient}/relations/{party.clinician}",
            json={"kind": "regular_gp", "valid_from": since},
            headers=admin(),
        )
        assert relation.status_code in (200, 201), relation.text
    return party


async def _create(api: Api, party: Party, patient: str, **body: Any) -> httpx.Response:
    request = create_body(party, **body)
    request["patient"]["id"] = patient
    return await api.http.post("/v1/consultations", json=request, headers=party.service)


async def test_one_patients_flood_is_refused_while_another_patient_of_the_portal_goes_on(
    limited: Api,
) -> None:
    flooding, other = unique("patient-a"), unique("patient-b")
    party = await _portal_of(limited, flooding, other)

    answers = [await _create(limited, party, flooding) for _ in range(PATIENT_BURST + 1)]
    for_other = await _create(limited, party, other)

    assert [a.status_code for a in answers[:PATIENT_BURST]] == [201] * PATIENT_BURST
    refused = assert_problem(answers[PATIENT_BURST], 429)
    assert refused["type"] == "urn:econsult:problem:rate-limited"
    assert "patient" in refused["detail"]
    assert int(answers[PATIENT_BURST].headers["Retry-After"]) >= 1
    assert for_other.status_code == 201, for_other.text


async def test_requests_refused_for_their_patient_do_not_spend_the_callers_allowance(
    limited: Api,
) -> None:
    flooding, others = unique("patient-a"), [unique("patient-b"), unique("patient-c")]
    last = unique("patient-d")
    party = await _portal_of(limited, flooding, *others, last)

    for _ in range(PATIENT_BURST):
        assert (await _create(limited, party, flooding)).status_code == 201
    refused = [await _create(limited, party, flooding) for _ in range(5)]
    # The portal's allowance left is what the accepted creates did not spend, all of it.
    accepted = [await _create(limited, party, patient) for patient in others]
    spent = await _create(limited, party, last)

    assert [r.status_code for r in refused] == [429] * 5
    assert [a.status_code for a in accepted] == [201] * (CALLER_BURST - PATIENT_BURST)
    assert "caller" in assert_problem(spent, 429)["detail"]


async def test_replies_and_withdraw_count_for_the_cases_patient_and_submit_for_its_case(
    limited: Api,
) -> None:
    patient = unique("patient-a")
    party = await _portal_of(limited, patient)
    drafts = [(await _create(limited, party, patient)).json()["id"] for _ in range(PATIENT_BURST)]

    withdrawn = await limited.http.post(
        f"/v1/consultations/{drafts[0]}/withdraw", headers=party.service
    )
    submitted = await limited.http.post(
        f"/v1/consultations/{drafts[1]}/submit",
        json={"body": "I have a rash.", "attachment_ids": []},
        headers=party.service,
    )

    assert "patient" in assert_problem(withdrawn, 429)["detail"]
    assert submitted.status_code == 200, submitted.text


async def test_a_caller_out_of_commands_still_reads(limited: Api) -> None:
    """Reads are not limited (the OpenAPI document declares no 429 on them)."""
    patients = [unique("patient-a"), unique("patient-b")]
    party = await _portal_of(limited, *patients)
    for patient in patients:
        for _ in range(CALLER_BURST // len(patients)):
            assert (await _create(limited, party, patient)).status_code == 201
    spent = await _create(limited, party, patients[0])

    reads = [
        await limited.http.get(f"/v1/patients/{patients[0]}/consultations", headers=party.service)
        for _ in range(CALLER_BURST + 1)
    ]

    assert "caller" in assert_problem(spent, 429)["detail"]
    assert [r.status_code for r in reads] == [200] * (CALLER_BURST + 1)
