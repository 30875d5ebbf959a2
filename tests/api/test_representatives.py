"""Representatives over HTTP: a parent writes for a child under 16, a guardian at any age."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from store.tables import Consultation, JournalEntry, Notification
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    create,
    create_body,
    eventually,
    rows,
    seed_clinicians,
    today,
)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _patient(party: Party, birth_date: date) -> dict[str, Any]:
    return {"id": party.patient, "birth_date": birth_date.isoformat(), "frikort": False}


PARENT = {"id": "parent-of-child", "relation": "parent"}


async def _journal(api: Api, consultation_id: str) -> list[tuple[str, str]]:
    async with api.sessions() as session:
        result = await session.execute(
            select(JournalEntry.author_id, JournalEntry.text)
            .where(JournalEntry.consultation_id == consultation_id)
            .order_by(JournalEntry.id)
        )
        return [(row.author_id, row.text) for row in result]


async def test_a_parent_writes_for_a_fifteen_year_old(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    fifteen = _years_before(today() + timedelta(days=1), 16)  # 16 tomorrow

    case = await create(
        http,
        party,
        message="She has had a fever for three days.",
        patient=_patient(party, fifteen),
        representative=PARENT,
    )

    [message] = case["messages"]
    assert message["representative"] == PARENT
    assert message["author_role"] == "patient"
    [(author, text)] = await _journal(any_api, case["id"])
    assert author == PARENT["id"]
    assert PARENT["id"] in text and party.patient in text and "parent" in text
    assert "fever" in text

    async def sent() -> list[Notification]:
        async with any_api.sessions() as session:
            query = select(Notification).where(Notification.consultation_id == case["id"])
            return list(await session.scalars(query))

    [notification] = await eventually(sent, lambda found: len(found) == 1)
    assert PARENT["id"] not in (notification.recipient_id or "")


async def test_a_parent_is_refused_from_the_sixteenth_birthday(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    sixteen_today = _years_before(today(), 16)

    response = await http.post(
        "/v1/consultations",
        json=create_body(
            party,
            message="Fever.",
            patient=_patient(party, sixteen_today),
            representative=PARENT,
        ),
        headers=party.service,
    )

    assert "under 16" in assert_problem(response, 422)["detail"]
    assert await rows(any_api.sessions, Consultation, patient_id=party.patient) == 0


async def test_a_parent_submitting_a_draft_for_a_sixteen_year_old_is_refused(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    draft = await create(
        http, party, message=None, patient=_patient(party, _years_before(today(), 17))
    )

    refused = await http.post(
        f"/v1/consultations/{draft['id']}/submit",
        json={"body": "Fever.", "attachment_ids": [], "representative": PARENT},
        headers=party.service,
    )

    assert_problem(refused, 422)
    shown = (await http.get(f"/v1/consultations/{draft['id']}", headers=party.service)).json()
    assert (shown["status"], shown["messages"]) == ("draft", [])


async def test_a_guardian_and_a_power_of_attorney_write_at_any_age(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    guardian = {"id": "guardian-1", "relation": "guardian"}
    attorney = {"id": "attorney-1", "relation": "power_of_attorney"}
    case = await create(
        http,
        party,
        message="Question about my ward's medicine.",
        patient=_patient(party, date(1940, 2, 29)),
        representative=guardian,
    )
    answered = await http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Take one a day.", "attachment_ids": []},
        headers=party.doctor,
    )
    assert answered.status_code == 200, answered.text

    followed = await http.post(
        f"/v1/consultations/{case['id']}/patient-replies",
        json={"body": "Thank you.", "attachment_ids": [], "representative": attorney},
        headers=party.service,
    )

    assert followed.status_code == 200, followed.text
    reps = [m["representative"] for m in followed.json()["messages"]]
    assert reps == [guardian, None, attorney]
    journal = await _journal(api, case["id"])
    assert journal[2][0] == attorney["id"]
    assert "power of attorney" in journal[2][1]
