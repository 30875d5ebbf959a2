"""Co-payment inputs kept by admins over HTTP: the frikort register and the specialist flag."""

from __future__ import annotations

from decimal import Decimal

from store.tables import Frikort
from tests.api.support import (
    Api,
    assert_problem,
    clinician_body,
    create,
    rows,
    seed_clinicians,
    settled_copayment,
    today,
)


async def test_frikort_recorded_after_submission_exempts_the_reply(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    case = await create(http, party)
    assert case["status"] == "awaiting_clinician"

    recorded = await http.put(
        f"/v1/patients/{party.patient}/frikort",
        json={"valid_from": today().isoformat(), "valid_to": f"{today().year}-12-31"},
        headers=party.admin,
    )
    assert recorded.status_code == 200, recorded.text
    replied = await http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Use the cream twice a day.", "attachment_ids": []},
        headers=party.doctor,
    )

    assert replied.status_code == 200, replied.text
    assert replied.json()["copayment"]["status"] in ("pending", "exempt")
    copayment = await settled_copayment(http, case["id"], party.doctor)
    assert copayment["status"] == "exempt"
    assert Decimal(str(copayment["amount_nok"])) == 0


async def test_recording_a_frikort_twice_keeps_one_period(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    body = {"valid_from": "2026-03-01", "valid_to": "2026-12-31"}
    for _ in range(2):
        response = await http.put(
            f"/v1/patients/{party.patient}/frikort", json=body, headers=party.admin
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"patient_id": party.patient, **body}
    assert await rows(any_api.sessions, Frikort, patient_id=party.patient) == 1


async def test_a_frikort_ending_before_it_starts_is_refused_with_422(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    response = await http.put(
        f"/v1/patients/{party.patient}/frikort",
        json={"valid_from": "2026-03-01", "valid_to": "2026-02-28"},
        headers=party.admin,
    )
    assert_problem(response, 422)
    assert await rows(any_api.sessions, Frikort, patient_id=party.patient) == 0


async def test_the_directory_keeps_the_specialist_flag_default_false(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    created = await http.put(
        f"/v1/clinicians/{party.clinician}",
        json=clinician_body(party.practice),
        headers=party.admin,
    )
    assert created.json()["specialist_in_general_practice"] is False
    await http.put(
        f"/v1/clinicians/{party.clinician}",
        json=clinician_body(party.practice, specialist_in_general_practice=True),
        headers=party.admin,
    )
    read = await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)
    assert read.json()["specialist_in_general_practice"] is True
