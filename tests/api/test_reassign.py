"""Reassignment over HTTP: the practice hands an open case to a colleague, deadline kept."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from domain.models import consultation_workflow_id
from store.tables import Charge, JournalEntry, Notification
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    bearer,
    clinician_body,
    create,
    eventually,
    seed_clinicians,
    settled_copayment,
    unique,
)
from workflows import search_attributes as sa


async def _reassign(
    api: Api, party: Party, case_id: str, headers: dict[str, str], recipient: str | None = None
) -> httpx.Response:
    return await api.http.post(
        f"/v1/consultations/{case_id}/reassign",
        json={"recipient_id": recipient or party.substitute, "reason": "Dr. Fastlege is ill."},
        headers=headers,
    )


async def test_the_practice_reassigns_and_the_new_recipient_answers_and_is_billed(
    any_api: Api,
) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    case = await create(http, party)

    response = await _reassign(any_api, party, case["id"], party.practice_admin())

    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["recipient_id"], moved["status"]) == (party.substitute, "awaiting_clinician")
    assert moved["reply_due_at"] == case["reply_due_at"]
    # The former recipient no longer sees it; the new one does, in the inbox too.
    former = await http.get(f"/v1/consultations/{case['id']}", headers=party.doctor)
    assert_problem(former, 404)
    late_reply = await http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Mine.", "attachment_ids": []},
        headers=party.doctor,
    )
    assert_problem(late_reply, 404)
    inbox = (await http.get("/v1/inbox", headers=party.vikar)).json()["items"]
    assert [item["id"] for item in inbox] == [case["id"]]
    described = await any_api.client.get_workflow_handle(
        consultation_workflow_id(case["id"])
    ).describe()
    assert described.typed_search_attributes.get(sa.CLINICIAN_ID) == party.substitute

    answered = await http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Use the cream.", "attachment_ids": [], "close": True},
        headers=party.vikar,
    )

    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "closed"
    assert (await settled_copayment(http, case["id"], party.vikar))["status"] == "charged"
    async with any_api.sessions() as session:
        charge = await session.get(Charge, case["id"])
        journal = list(
            await session.scalars(
                select(JournalEntry.text).where(JournalEntry.consultation_id == case["id"])
            )
        )
    assert charge is not None and charge.billed_clinician_id == party.substitute
    [text] = [row for row in journal if "overført" in row]
    assert party.clinician in text and party.substitute in text and "ill" in text

    async def told() -> list[tuple[str, str | None]]:
        async with any_api.sessions() as session:
            rows = await session.execute(
                select(Notification.event, Notification.recipient_id).where(
                    Notification.consultation_id == case["id"]
                )
            )
            return [(row.event, row.recipient_id) for row in rows]

    sent = await eventually(told, lambda rows: ("reassigned", party.substitute) in rows)
    assert ("reassigned", party.substitute) in sent


async def test_only_the_practice_or_an_admin_reassigns_within_the_practice(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    elsewhere = unique("hpr-elsewhere")
    put = await http.put(
        f"/v1/clinicians/{elsewhere}", json=clinician_body(unique("practice")), headers=party.admin
    )
    assert put.status_code == 201, put.text
    case = await create(http, party)

    assert_problem(await _reassign(api, party, case["id"], party.doctor), 403)
    assert_problem(await _reassign(api, party, case["id"], party.service), 403)
    other_practice = party.practice_admin(unique("practice"))
    assert_problem(await _reassign(api, party, case["id"], other_practice), 404)
    no_claim = bearer(api.tokens.mint("econsult:practice", sub="practice-admin"))
    assert_problem(await _reassign(api, party, case["id"], no_claim), 403)
    to_elsewhere = await _reassign(api, party, case["id"], party.practice_admin(), elsewhere)
    assert "not in practice" in assert_problem(to_elsewhere, 422)["detail"]
    unchanged = (await http.get(f"/v1/consultations/{case['id']}", headers=party.doctor)).json()
    assert unchanged["recipient_id"] == party.clinician

    by_admin = await _reassign(api, party, case["id"], party.admin)
    assert by_admin.status_code == 200, by_admin.text
    closed = await http.post(f"/v1/consultations/{case['id']}/close", headers=party.vikar)
    assert closed.status_code == 200, closed.text

    after_close = await _reassign(api, party, case["id"], party.practice_admin(), party.clinician)
    assert_problem(after_close, 409)


async def test_a_draft_is_not_reassigned(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    draft = await create(http, party, message=None)

    assert_problem(await _reassign(api, party, draft["id"], party.practice_admin()), 409)


async def test_a_reassignment_repeated_with_one_idempotency_key_takes_effect_once(
    api: Api,
) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    case = await create(http, party)
    keyed = {**party.practice_admin(), "Idempotency-Key": unique("reassign")}

    first = await _reassign(api, party, case["id"], keyed)
    again = await _reassign(api, party, case["id"], keyed)
    other_body = await http.post(
        f"/v1/consultations/{case['id']}/reassign",
        json={"recipient_id": party.substitute, "reason": "Another reason."},
        headers=keyed,
    )

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert_problem(other_body, 422)
    async with api.sessions() as session:
        journal = list(
            await session.scalars(
                select(JournalEntry.text).where(JournalEntry.consultation_id == case["id"])
            )
        )
    assert len([text for text in journal if "overført" in text]) == 1
