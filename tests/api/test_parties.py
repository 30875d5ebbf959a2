"""Parties over HTTP: relations decide whom a patient may write to, recipients show it."""

from __future__ import annotations

from datetime import timedelta

from store.tables import Consultation
from tests.api.support import (
    Api,
    assert_problem,
    clinician_body,
    create,
    create_body,
    message,
    relate,
    rows,
    seed_clinicians,
    today,
    unique,
)


def _absent_from_today(days: int) -> list[dict[str, str]]:
    return [{"from": today().isoformat(), "to": (today() + timedelta(days=days)).isoformat()}]


async def test_the_portal_lists_recipients_then_sends_to_the_regular_gp(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)

    listed = await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)

    assert listed.status_code == 200, listed.text
    [gp] = listed.json()["items"]
    directory = (await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)).json()
    assert gp == {
        "clinician_id": party.clinician,
        "name": "Dr. Fastlege",
        "practice_id": party.practice,
        "kind": "regular_gp",
        "available": True,
        "unavailable_reason": None,
        "reply_within_working_days": 5,
        "expected_reply_by": directory["expected_reply_by"],
        "substitute": None,
    }
    case = await create(
        http, party, clinician_id=gp["clinician_id"], recipient_id=gp["clinician_id"]
    )
    assert case["status"] == "awaiting_clinician"
    assert case["recipient_id"] == party.clinician


async def test_recipients_list_only_relations_active_today_regular_gp_first(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    treating, former = unique("hpr-treat"), unique("hpr-former")
    for hpr in (treating, former):
        response = await http.put(
            f"/v1/clinicians/{hpr}", json=clinician_body(party.practice), headers=party.admin
        )
        assert response.status_code == 201, response.text
    await relate(http, party, treating, kind="treatment", valid_to=today().isoformat())
    await relate(http, party, former, valid_to=(today() - timedelta(days=1)).isoformat())

    listed = (
        await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    ).json()["items"]

    assert [(r["clinician_id"], r["kind"]) for r in listed] == [
        (party.clinician, "regular_gp"),
        (treating, "treatment"),
    ]


async def test_a_create_for_an_unrelated_clinician_is_refused(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    stranger = any_api.party()

    response = await http.post(
        "/v1/consultations",
        json=create_body(stranger, message="Hello", clinician_id=party.clinician),
        headers=party.service,
    )

    problem = assert_problem(response, 422)
    assert f"no relation with clinician {party.clinician}" in problem["detail"]
    assert await rows(any_api.sessions, Consultation, patient_id=stranger.patient) == 0


async def test_a_create_after_the_relation_ended_is_refused(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    yesterday = today() - timedelta(days=1)
    await relate(http, party, valid_to=yesterday.isoformat())

    response = await http.post(
        "/v1/consultations", json=create_body(party, message="Hello"), headers=party.service
    )

    assert f"ended on {yesterday.isoformat()}" in assert_problem(response, 422)["detail"]
    assert await rows(api.sessions, Consultation, patient_id=party.patient) == 0


async def test_delete_ends_the_relation_and_leaves_open_consultations_alone(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    case = await create(http, party)

    ended = await http.delete(
        f"/v1/patients/{party.patient}/relations/{party.clinician}", headers=party.admin
    )

    assert ended.status_code == 204, ended.text
    listed = await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    assert listed.json()["items"] == []
    refused = await http.post(
        "/v1/consultations", json=create_body(party, message="Again"), headers=party.service
    )
    assert_problem(refused, 422)
    await message(http, f"{case['id']}/replies", party.doctor, "Still answering.")
    again = await http.delete(
        f"/v1/patients/{party.patient}/relations/{party.clinician}", headers=party.admin
    )
    assert again.status_code == 204
    unknown = await http.delete(
        f"/v1/patients/{party.patient}/relations/nobody", headers=party.admin
    )
    assert_problem(unknown, 404)


async def test_relations_are_kept_by_admins_only_for_directory_clinicians(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    url = f"/v1/patients/{party.patient}/relations/{party.clinician}"
    body = {"kind": "treatment", "valid_from": today().isoformat(), "valid_to": None}

    assert_problem(await http.put(url, json=body, headers=party.service), 403)
    unknown = await http.put(
        f"/v1/patients/{party.patient}/relations/nobody", json=body, headers=party.admin
    )
    assert_problem(unknown, 422)
    backwards = {**body, "valid_to": (today() - timedelta(days=1)).isoformat()}
    assert_problem(await http.put(url, json=backwards, headers=party.admin), 422)
    assert_problem(await http.put(url, json={**body, "kind": "friend"}, headers=party.admin), 422)
    replaced = await http.put(url, json=body, headers=party.admin)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["kind"] == "treatment"
    assert_problem(
        await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.doctor), 403
    )


async def test_an_absent_clinician_without_substitute_gets_no_new_consultation(
    any_api: Api,
) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party, absences=_absent_from_today(3))
    back = (today() + timedelta(days=4)).isoformat()

    directory = (await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)).json()
    assert directory["absences"] == _absent_from_today(3)
    [gp] = (
        await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    ).json()["items"]
    assert (gp["available"], gp["unavailable_reason"], gp["expected_reply_by"]) == (
        False,
        "absent",
        None,
    )
    response = await http.post(
        "/v1/consultations", json=create_body(party, message="Hello"), headers=party.service
    )

    assert f"back on {back}" in assert_problem(response, 422)["detail"]
    assert await rows(any_api.sessions, Consultation, patient_id=party.patient) == 0


async def test_a_clinician_who_takes_no_econsultations_is_listed_as_not_accepting(
    api: Api,
) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party, accepts_econsultations=False)

    [gp] = (
        await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    ).json()["items"]

    assert (gp["available"], gp["unavailable_reason"]) == (False, "not_accepting")


async def test_the_substitute_of_an_absent_gp_is_chosen_through_the_recipients_list(
    any_api: Api,
) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party, substitute_active=True, absences=_absent_from_today(3))

    [gp] = (
        await http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    ).json()["items"]
    assert (gp["available"], gp["unavailable_reason"]) == (True, "absent")
    assert gp["substitute"] == {
        "clinician_id": party.substitute,
        "name": "Dr. Vikar",
        "valid_to": (today() + timedelta(days=7)).isoformat(),
    }
    assert gp["expected_reply_by"] is not None
    to_the_absent_gp = await http.post(
        "/v1/consultations", json=create_body(party, message="Hello"), headers=party.service
    )
    assert_problem(to_the_absent_gp, 422)

    case = await create(http, party, recipient_id=gp["substitute"]["clinician_id"])

    assert (case["clinician_id"], case["recipient_id"]) == (party.clinician, party.substitute)
    inbox = await http.get("/v1/inbox", headers=party.vikar)
    assert [item["id"] for item in inbox.json()["items"]] == [case["id"]]


async def test_absences_that_run_backwards_or_start_together_are_refused(api: Api) -> None:
    http, party = api.http, api.party()
    start = today().isoformat()
    backwards = [{"from": start, "to": (today() - timedelta(days=1)).isoformat()}]
    twice = [{"from": start, "to": start}, {"from": start, "to": start}]

    for absences in (backwards, twice):
        response = await http.put(
            f"/v1/clinicians/{party.clinician}",
            json=clinician_body(party.practice, absences=absences),
            headers=party.admin,
        )
        assert_problem(response, 422)
    assert_problem(await http.get(f"/v1/clinicians/{party.clinician}", headers=party.admin), 404)
