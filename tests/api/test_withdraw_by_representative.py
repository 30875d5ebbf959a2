"""Withdraw through a representative over HTTP: an optional body `{representative}` judged by
the rules of every patient command, and the journal naming who withdrew (docs/parties.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from store.tables import JournalEntry
from tests.api.support import Api, Party, assert_problem, command, open_case, unique

ADULT = {"birth_date": "1950-01-01", "frikort": False}
KIN = {"id": "kin-1", "relation": "next_of_kin", "birth_date": "1960-03-01"}
REFUSED = "urn:econsult:problem:refused"


async def _adults_case(api: Api, party: Party) -> str:
    return await open_case(api, party, patient={"id": party.patient, **ADULT})


async def _withdrawal_entry(api: Api, cid: str) -> JournalEntry:
    async with api.sessions() as session:
        query = select(JournalEntry).where(
            JournalEntry.consultation_id == cid, JournalEntry.kind == "withdraw"
        )
        return (await session.scalars(query)).one()


async def _status(api: Api, party: Party, cid: str) -> str:
    shown = await api.http.get(f"/v1/consultations/{cid}", headers=party.service)
    return str(shown.json()["status"])


async def test_a_next_of_kin_withdraws_and_the_journal_names_them(api: Api, party: Party) -> None:
    cid = await _adults_case(api, party)

    withdrawn = await command(api, cid, "withdraw", party.service, {"representative": KIN})

    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    entry = await _withdrawal_entry(api, cid)
    assert (entry.author_role, entry.author_id) == ("patient", "kin-1")
    assert (entry.representative_id, entry.representative_relation) == ("kin-1", "next_of_kin")
    assert entry.patient_id == party.patient


async def test_an_empty_body_withdraws_as_the_patient(api: Api, party: Party) -> None:
    cid = await _adults_case(api, party)

    withdrawn = await command(api, cid, "withdraw", party.service, {})

    assert withdrawn.status_code == 200, withdrawn.text
    entry = await _withdrawal_entry(api, cid)
    assert (entry.author_id, entry.representative_id) == (party.patient, None)


async def test_no_body_withdraws_as_the_patient(api: Api, party: Party) -> None:
    cid = await _adults_case(api, party)

    withdrawn = await command(api, cid, "withdraw", party.service)

    assert withdrawn.status_code == 200, withdrawn.text
    entry = await _withdrawal_entry(api, cid)
    assert (entry.author_id, entry.representative_id) == (party.patient, None)


async def test_a_parent_of_an_adult_may_not_withdraw_and_the_case_stays_open(
    api: Api, party: Party
) -> None:
    cid = await _adults_case(api, party)
    parent = {"id": "parent-1", "relation": "parent"}

    refused = await command(api, cid, "withdraw", party.service, {"representative": parent})

    problem = assert_problem(refused, 422)
    assert problem["type"] == REFUSED
    assert "a parent may write only for a child under 12" in problem["detail"]
    assert await _status(api, party, cid) == "awaiting_clinician"


async def test_a_guardian_may_not_withdraw(api: Api, party: Party) -> None:
    cid = await _adults_case(api, party)
    guardian = {"id": "guardian-1", "relation": "guardian"}

    refused = await command(api, cid, "withdraw", party.service, {"representative": guardian})

    problem = assert_problem(refused, 422)
    assert str(problem["detail"]).startswith("guardianship is no longer a basis")
    assert await _status(api, party, cid) == "awaiting_clinician"


async def test_a_next_of_kin_for_a_child_under_12_may_not_withdraw(api: Api, party: Party) -> None:
    child = {"id": party.patient, "birth_date": "2020-01-01", "frikort": False}
    cid = await open_case(api, party, patient=child)

    refused = await command(api, cid, "withdraw", party.service, {"representative": KIN})

    assert "for a patient aged 12 or more" in assert_problem(refused, 422)["detail"]


async def test_a_withdrawal_repeated_under_its_key_is_answered_once(api: Api, party: Party) -> None:
    cid = await _adults_case(api, party)
    headers = {**party.service, "Idempotency-Key": unique("key")}
    body: dict[str, Any] = {"representative": KIN}

    first = await api.http.post(f"/v1/consultations/{cid}/withdraw", json=body, headers=headers)
    again = await api.http.post(f"/v1/consultations/{cid}/withdraw", json=body, headers=headers)
    other = await api.http.post(f"/v1/consultations/{cid}/withdraw", headers=headers)

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    # Another request under the key (here: the patient themselves) is refused, as before.
    assert "different request" in assert_problem(other, 422)["detail"]


async def test_no_body_and_an_empty_body_are_one_request_under_a_key(
    api: Api, party: Party
) -> None:
    cid = await _adults_case(api, party)
    headers = {**party.service, "Idempotency-Key": unique("key")}

    first = await api.http.post(f"/v1/consultations/{cid}/withdraw", headers=headers)
    again = await api.http.post(f"/v1/consultations/{cid}/withdraw", json={}, headers=headers)

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
