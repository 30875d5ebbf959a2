"""Lists: the clinician's inbox (filters, deadline order, stable cursors) and the patient's list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.models import ConsultationRecord, Status
from store.case_writes import Consultations
from tests.api.support import Api, Party, create, seed_clinicians

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def _stored(
    api: Api,
    party: Party,
    *,
    due_in_days: int | None,
    status: Status = Status.AWAITING_CLINICIAN,
    overdue: bool = False,
    created_minutes: int = 0,
) -> str:
    """A case row as the workflow's activity writes it (deadlines chosen by the test)."""
    consultation_id = uuid.uuid4().hex
    await Consultations(api.sessions).save(
        ConsultationRecord(
            consultation_id=consultation_id,
            patient_id=party.patient,
            clinician_id=party.clinician,
            recipient_id=party.clinician,
            practice_id=party.practice,
            status=status,
            created_at=BASE + timedelta(minutes=created_minutes),
            submitted_at=BASE,
            reply_due_at=BASE + timedelta(days=due_in_days) if due_in_days is not None else None,
            overdue=overdue,
            revision=1,
        )
    )
    return consultation_id


async def _pages(api: Api, url: str, headers: dict[str, str]) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}cursor={cursor}" if cursor else url
        response = await api.http.get(page_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


async def test_inbox_is_sorted_by_reply_deadline_with_no_deadline_last(any_api: Api) -> None:
    api, party = any_api, any_api.party()
    later = await _stored(api, party, due_in_days=5)
    sooner = await _stored(api, party, due_in_days=1)
    answered = await _stored(api, party, due_in_days=None, status=Status.AWAITING_PATIENT)
    middle = await _stored(api, party, due_in_days=3)
    items = (await api.http.get("/v1/inbox", headers=party.doctor)).json()["items"]
    assert [item["id"] for item in items] == [sooner, middle, later, answered]


async def test_inbox_filters_by_status_and_by_overdue(api: Api, party: Party) -> None:
    waiting = await _stored(api, party, due_in_days=2)
    late = await _stored(api, party, due_in_days=-1, overdue=True)
    answered = await _stored(api, party, due_in_days=None, status=Status.AWAITING_PATIENT)
    closed = await _stored(api, party, due_in_days=None, status=Status.CLOSED)

    async def ids(query: str) -> list[str]:
        response = await api.http.get(f"/v1/inbox?{query}", headers=party.doctor)
        return [item["id"] for item in response.json()["items"]]

    assert await ids("status=awaiting_clinician") == [late, waiting]
    assert await ids("status=awaiting_patient") == [answered]
    assert await ids("status=closed") == [closed]
    assert await ids("overdue=true") == [late]
    assert await ids("overdue=false&status=awaiting_clinician") == [waiting]


async def test_inbox_leaves_out_drafts_that_were_never_sent(api: Api, party: Party) -> None:
    await _stored(api, party, due_in_days=None, status=Status.DRAFT)
    await _stored(api, party, due_in_days=None, status=Status.EXPIRED)
    sent = await _stored(api, party, due_in_days=1)
    items = (await api.http.get("/v1/inbox", headers=party.doctor)).json()["items"]
    assert [item["id"] for item in items] == [sent]


async def test_inbox_pages_cover_every_case_once_in_order(api: Api, party: Party) -> None:
    expected = [await _stored(api, party, due_in_days=day % 4) for day in range(7)]
    expected.append(await _stored(api, party, due_in_days=None, status=Status.AWAITING_PATIENT))
    pages = await _pages(api, "/v1/inbox?limit=3", party.doctor)
    assert [len(page) for page in pages] == [3, 3, 2]
    seen = [item["id"] for page in pages for item in page]
    dues = [
        (item["reply_due_at"] is None, item["reply_due_at"] or "", item["id"])
        for page in pages
        for item in page
    ]
    assert dues == sorted(dues)
    assert sorted(seen) == sorted(expected)


async def test_inbox_cursor_is_stable_when_cases_arrive_between_pages(any_api: Api) -> None:
    api, party = any_api, any_api.party()
    original = [await _stored(api, party, due_in_days=day) for day in range(1, 7)]
    first = (await api.http.get("/v1/inbox?limit=3", headers=party.doctor)).json()
    assert [item["id"] for item in first["items"]] == original[:3]
    # New cases land before, inside and after the page boundary.
    await _stored(api, party, due_in_days=0)
    inside = await _stored(api, party, due_in_days=4)
    after = await _stored(api, party, due_in_days=9)
    rest = await _pages(api, f"/v1/inbox?limit=3&cursor={first['next_cursor']}", party.doctor)
    seen = [item["id"] for page in rest for item in page]
    assert [i for i in seen if i in original] == original[3:]
    assert inside in seen and after in seen
    assert not set(seen) & {item["id"] for item in first["items"]}


async def test_patient_list_is_newest_first_and_pages_by_cursor(any_api: Api) -> None:
    api, party = any_api, any_api.party()
    ids = [await _stored(api, party, due_in_days=1, created_minutes=m) for m in range(5)]
    pages = await _pages(api, f"/v1/patients/{party.patient}/consultations?limit=2", party.service)
    assert [item["id"] for page in pages for item in page] == list(reversed(ids))
    assert [len(page) for page in pages] == [2, 2, 1]


async def test_list_items_carry_no_message_bodies(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    await create(api.http, party, message="Private text.")
    listed = await api.http.get(
        f"/v1/patients/{party.patient}/consultations", headers=party.service
    )
    assert "Private text." not in listed.text
    inbox = await api.http.get("/v1/inbox", headers=party.doctor)
    assert "Private text." not in inbox.text
    assert inbox.json()["items"][0]["can_patient_reply"] is False


async def test_a_list_item_is_the_consultation_as_read_without_its_messages(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    case = await create(api.http, party, message="Rash.")
    inbox = (await api.http.get("/v1/inbox", headers=party.doctor)).json()["items"]
    mine = await api.http.get(f"/v1/patients/{party.patient}/consultations", headers=party.service)
    read = await api.http.get(f"/v1/consultations/{case['id']}", headers=party.doctor)
    shown = {name: value for name, value in read.json().items() if name != "messages"}
    assert inbox == mine.json()["items"] == [shown]
