"""Practices over HTTP: admins keep each practice's record and its decline text."""

from __future__ import annotations

import pytest

from tests.api.support import Api, assert_problem


async def test_an_admin_puts_a_practice_and_reads_it_back(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    url = f"/v1/practices/{party.practice}"
    body = {"name": "Legesenteret", "decline_message": "  Dette passer best for en time.  "}

    put = await http.put(url, json=body, headers=party.admin)

    assert put.status_code == 200, put.text
    assert put.json() == {
        "practice_id": party.practice,
        "name": "Legesenteret",
        "decline_message": "Dette passer best for en time.",
    }
    read = await http.get(url, headers=party.admin)
    assert (read.status_code, read.json()) == (200, put.json())


async def test_a_second_put_replaces_the_practice_and_clears_what_it_leaves_out(
    api: Api,
) -> None:
    http, party = api.http, api.party()
    url = f"/v1/practices/{party.practice}"
    first = {"name": "Legesenteret", "decline_message": "Ring oss."}
    assert (await http.put(url, json=first, headers=party.admin)).status_code == 200

    put = await http.put(url, json={"name": "Legesenteret Sentrum"}, headers=party.admin)

    assert put.status_code == 200, put.text
    read = (await http.get(url, headers=party.admin)).json()
    assert read == {
        "practice_id": party.practice,
        "name": "Legesenteret Sentrum",
        "decline_message": None,
    }


async def test_a_practice_without_a_record_is_not_found(api: Api) -> None:
    party = api.party()

    assert_problem(await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin), 404)


async def test_only_an_admin_keeps_practices(api: Api) -> None:
    http, party = api.http, api.party()
    url = f"/v1/practices/{party.practice}"
    for caller in (party.service, party.doctor, party.practice_admin()):
        assert_problem(await http.put(url, json={"name": "Mine"}, headers=caller), 403)
        assert_problem(await http.get(url, headers=caller), 403)
    assert_problem(await http.get(url, headers=party.admin), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "   "},
        {"name": ""},
        {},
        {"name": "Legesenteret", "decline_message": " \n "},
        {"name": "Legesenteret", "decline_message": "x" * 5001},
        {"name": "Legesenteret", "webhook_url": "https://example.org"},
    ],
    ids=["blank-name", "empty-name", "no-name", "blank-decline", "long-decline", "unknown-field"],
)
async def test_a_bad_practice_is_refused_with_a_problem(api: Api, body: dict[str, str]) -> None:
    party = api.party()

    response = await api.http.put(f"/v1/practices/{party.practice}", json=body, headers=party.admin)

    assert_problem(response, 422)
    assert_problem(await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin), 404)
