"""A practice's own switch and closed days (docs/deadlines.md): a practice switched off takes no
new e-consultations for any of its clinicians, and its closed days are not working days for a
deadline computed from the next submit or follow-up on, read afresh each time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.working_days import reply_due_at
from store.tables import Consultation
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    create,
    create_body,
    rows,
    seed_clinicians,
    today,
)


async def _put_practice(api: Api, party: Party, **fields: Any) -> dict[str, Any]:
    body = {"name": "Legesenteret", **fields}
    put = await api.http.put(f"/v1/practices/{party.practice}", json=body, headers=party.admin)
    assert put.status_code == 200, put.text
    answer: dict[str, Any] = put.json()
    return answer


async def _recipient(api: Api, party: Party) -> dict[str, Any]:
    listed = await api.http.get(f"/v1/patients/{party.patient}/recipients", headers=party.service)
    assert listed.status_code == 200, listed.text
    [gp] = listed.json()["items"]
    found: dict[str, Any] = gp
    return found


async def test_a_practice_switched_off_refuses_creates_and_switched_on_takes_them_again(
    any_api: Api,
) -> None:
    party = any_api.party()
    await seed_clinicians(any_api.http, party, substitute_active=True)
    await _put_practice(any_api, party, accepts_econsultations=False)

    gp = await _recipient(any_api, party)
    assert (gp["available"], gp["unavailable_reason"]) == (False, "practice_not_accepting")
    assert (gp["substitute"], gp["expected_reply_by"]) == (None, None)
    for recipient in (party.clinician, party.substitute):
        body = create_body(party, message="Hello", recipient_id=recipient)
        refused = await any_api.http.post("/v1/consultations", json=body, headers=party.service)
        detail = assert_problem(refused, 422)["detail"]
        assert f"practice {party.practice} does not accept new e-consultations" in detail
    assert await rows(any_api.sessions, Consultation, patient_id=party.patient) == 0

    await _put_practice(any_api, party, accepts_econsultations=True)

    gp = await _recipient(any_api, party)
    assert (gp["available"], gp["unavailable_reason"]) == (True, None)
    case = await create(any_api.http, party, recipient_id=party.clinician)
    assert case["status"] == "awaiting_clinician"


async def test_a_practice_switched_off_leaves_its_open_consultations_answerable(api: Api) -> None:
    party = api.party()
    await seed_clinicians(api.http, party)
    case = await create(api.http, party)
    await _put_practice(api, party, accepts_econsultations=False)

    replied = await api.http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Use the cream.", "attachment_ids": []},
        headers=party.doctor,
    )

    assert replied.status_code == 200, replied.text


@pytest.mark.parametrize(
    ("practice_accepts", "clinician_accepts", "absent", "reason"),
    [
        (False, False, True, "practice_not_accepting"),
        (True, False, True, "not_accepting"),
        (True, True, True, "absent"),
        (True, True, False, None),
    ],
)
async def test_recipients_give_the_first_reason_in_order_of_precedence(
    api: Api,
    practice_accepts: bool,
    clinician_accepts: bool,
    absent: bool,
    reason: str | None,
) -> None:
    party = api.party()
    absences = [{"from": today().isoformat(), "to": today().isoformat()}] if absent else []
    await seed_clinicians(
        api.http, party, accepts_econsultations=clinician_accepts, absences=absences
    )
    await _put_practice(api, party, accepts_econsultations=practice_accepts)

    gp = await _recipient(api, party)

    assert (gp["available"], gp["unavailable_reason"]) == (reason is None, reason)


async def test_the_practice_answers_its_switch_and_closed_days(api: Api) -> None:
    party = api.party()
    days = ["2027-12-31", "2027-12-27", "2027-12-31"]

    put = await _put_practice(api, party, accepts_econsultations=False, closed_days=days)

    read = await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin)
    assert read.json() == put
    assert (put["accepts_econsultations"], put["closed_days"]) == (
        False,
        ["2027-12-27", "2027-12-31"],
    )


@pytest.mark.parametrize("day", ["2027-1-3", "03.01.2027", 20270103, "2027-01-03T00:00:00Z"])
async def test_closed_days_are_dates_written_yyyy_mm_dd(api: Api, day: object) -> None:
    party = api.party()
    body = {"name": "Legesenteret", "closed_days": [day]}

    put = await api.http.put(f"/v1/practices/{party.practice}", json=body, headers=party.admin)

    assert_problem(put, 422)
    read = await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin)
    assert_problem(read, 404)


def _due_day(answer: dict[str, Any]) -> date:
    return datetime.fromisoformat(answer["reply_due_at"]).date()


async def test_closed_days_set_after_the_create_count_for_the_deadline_of_the_submit(
    any_api: Api,
) -> None:
    party = any_api.party()
    await seed_clinicians(any_api.http, party)
    draft = await create(any_api.http, party, message=None)
    # The day the deadline would fall on, closed after the draft was opened.
    would_be = reply_due_at(datetime.now().astimezone(), 5).date()
    await _put_practice(any_api, party, closed_days=[would_be.isoformat()])

    submitted = await any_api.http.post(
        f"/v1/consultations/{draft['id']}/submit",
        json={"body": "A rash.", "attachment_ids": []},
        headers=party.service,
    )

    assert submitted.status_code == 200, submitted.text
    assert _due_day(submitted.json()) > would_be


async def test_closed_days_set_later_do_not_move_a_running_deadline(api: Api) -> None:
    party = api.party()
    await seed_clinicians(api.http, party)
    case = await create(api.http, party)
    running = _due_day(case)

    await _put_practice(api, party, closed_days=[(running - timedelta(days=1)).isoformat()])

    read = await api.http.get(f"/v1/consultations/{case['id']}", headers=party.service)
    assert _due_day(read.json()) == running
