"""Representatives over HTTP: a parent writes for a child under 12, the nearest next of kin for
a patient of 12 or more (being 18 or more), a power of attorney is given at 16 or more to a
holder of 18 or more; a guardian is no longer a basis for a new message."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from domain.models import ConsultationStart, MessageContent, consultation_workflow_id
from domain.parties import Patient, Representative, RepresentativeRelation
from store.tables import Consultation, JournalEntry, Notification
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    create,
    create_body,
    eventually,
    message,
    rows,
    seed_clinicians,
    today,
)
from workflows.econsultation import EConsultation


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _patient(party: Party, birth_date: date) -> dict[str, Any]:
    return {"id": party.patient, "birth_date": birth_date.isoformat(), "frikort": False}


PARENT = {"id": "parent-of-child", "relation": "parent"}
GUARDIAN = {"id": "guardian-1", "relation": "guardian"}
REFUSED = "urn:econsult:problem:refused"


def _next_of_kin(holder_born: date | None = date(1960, 3, 1)) -> dict[str, Any]:
    kin: dict[str, Any] = {"id": "kin-1", "relation": "next_of_kin"}
    if holder_born is not None:
        kin["birth_date"] = holder_born.isoformat()
    return kin


def _attorney(holder_born: date | None) -> dict[str, Any]:
    attorney: dict[str, Any] = {"id": "attorney-1", "relation": "power_of_attorney"}
    if holder_born is not None:
        attorney["birth_date"] = holder_born.isoformat()
    return attorney


async def _journal(api: Api, consultation_id: str) -> list[tuple[str, str]]:
    async with api.sessions() as session:
        result = await session.execute(
            select(JournalEntry.author_id, JournalEntry.text)
            .where(JournalEntry.consultation_id == consultation_id)
            .order_by(JournalEntry.id)
        )
        return [(row.author_id, row.text) for row in result]


async def test_a_parent_writes_for_an_eleven_year_old(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party)
    eleven = _years_before(today() + timedelta(days=1), 12)  # 12 tomorrow

    case = await create(
        http,
        party,
        message="She has had a fever for three days.",
        patient=_patient(party, eleven),
        representative=PARENT,
    )

    [message] = case["messages"]
    assert message["representative"] == PARENT
    assert message["author_role"] == "patient"
    [(author, text)] = await _journal(any_api, case["id"])
    assert author == PARENT["id"]
    # The message as written: who wrote for whom is in structured fields, no id in the text.
    assert text == "She has had a fever for three days."

    async def sent() -> list[Notification]:
        async with any_api.sessions() as session:
            query = select(Notification).where(Notification.consultation_id == case["id"])
            return list(await session.scalars(query))

    [notification] = await eventually(sent, lambda found: len(found) == 1)
    assert PARENT["id"] not in (notification.recipient_id or "")


async def _refused_at_create(
    api: Api, party: Party, patient_born: date, representative: dict[str, Any]
) -> str:
    """The create's 422 detail; nothing was written (no case row)."""
    await seed_clinicians(api.http, party)
    response = await api.http.post(
        "/v1/consultations",
        json=create_body(
            party,
            message="Fever.",
            patient=_patient(party, patient_born),
            representative=representative,
        ),
        headers=party.service,
    )
    detail = str(assert_problem(response, 422)["detail"])
    assert await rows(api.sessions, Consultation, patient_id=party.patient) == 0
    return detail


async def test_a_parent_is_refused_from_the_twelfth_birthday(any_api: Api) -> None:
    party = any_api.party()
    detail = await _refused_at_create(any_api, party, _years_before(today(), 12), PARENT)

    assert "a parent may write only for a child under 12" in detail
    assert f"(judged on {today().isoformat()})" in detail


async def test_a_power_of_attorney_without_the_holders_birth_date_is_refused(
    api: Api,
) -> None:
    detail = await _refused_at_create(api, api.party(), date(1950, 1, 1), _attorney(None))

    assert "needs the holder's birth_date" in detail


async def test_a_power_of_attorney_held_by_a_seventeen_year_old_is_refused(api: Api) -> None:
    seventeen = _years_before(today() + timedelta(days=1), 18)  # 18 tomorrow
    detail = await _refused_at_create(api, api.party(), date(1950, 1, 1), _attorney(seventeen))

    assert "the holder of a power of attorney must be 18 or older" in detail


async def test_a_power_of_attorney_for_a_fifteen_year_old_is_refused(api: Api) -> None:
    fifteen = _years_before(today() + timedelta(days=1), 16)  # 16 tomorrow
    detail = await _refused_at_create(api, api.party(), fifteen, _attorney(date(1970, 1, 1)))

    assert "none exists for a child" in detail


async def test_a_guardian_is_refused_at_create_naming_the_rule(api: Api) -> None:
    detail = await _refused_at_create(api, api.party(), date(1950, 1, 1), GUARDIAN)

    assert detail.startswith("guardianship is no longer a basis")
    assert "the nearest next of kin of a patient lacking the competence to consent" in detail


async def test_a_next_of_kin_writes_for_a_patient_on_their_twelfth_birthday(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)

    case = await create(
        http,
        party,
        message="Question about her medicine.",
        patient=_patient(party, _years_before(today(), 12)),
        representative=_next_of_kin(),
    )

    [written] = case["messages"]
    # Who wrote and as what; the birth date is checked, not kept or shown.
    assert written["representative"] == {"id": "kin-1", "relation": "next_of_kin"}
    [(author, _text)] = await _journal(api, case["id"])
    assert author == "kin-1"


async def test_a_next_of_kin_is_refused_the_day_before_the_twelfth_birthday(api: Api) -> None:
    eleven = _years_before(today() + timedelta(days=1), 12)  # 12 tomorrow
    detail = await _refused_at_create(api, api.party(), eleven, _next_of_kin())

    assert "a next of kin may write only for a patient aged 12 or more" in detail
    assert f"(judged on {today().isoformat()})" in detail


async def test_a_next_of_kin_is_refused_the_day_before_their_eighteenth_birthday(
    api: Api,
) -> None:
    seventeen = _years_before(today() + timedelta(days=1), 18)  # 18 tomorrow
    detail = await _refused_at_create(api, api.party(), date(1950, 1, 1), _next_of_kin(seventeen))

    assert "a next of kin writing for a patient must be 18 or older" in detail


async def test_a_next_of_kin_writes_on_their_eighteenth_birthday(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    eighteen = _years_before(today(), 18)

    case = await create(
        http,
        party,
        message="Question.",
        patient=_patient(party, date(1950, 1, 1)),
        representative=_next_of_kin(eighteen),
    )

    assert case["messages"][0]["representative"]["relation"] == "next_of_kin"


async def test_a_next_of_kin_without_a_birth_date_is_refused(api: Api) -> None:
    detail = await _refused_at_create(api, api.party(), date(1950, 1, 1), _next_of_kin(None))

    assert "a next of kin needs their birth_date" in detail


async def test_a_guardian_is_refused_at_submit_and_at_a_follow_up(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    adult = _patient(party, date(1950, 1, 1))
    draft = await create(http, party, message=None, patient=adult)

    submitted = await http.post(
        f"/v1/consultations/{draft['id']}/submit",
        json={"body": "Fever.", "attachment_ids": [], "representative": GUARDIAN},
        headers=party.service,
    )

    problem = assert_problem(submitted, 422)
    assert problem["type"] == REFUSED
    assert str(problem["detail"]).startswith("guardianship is no longer a basis")
    shown = (await http.get(f"/v1/consultations/{draft['id']}", headers=party.service)).json()
    assert (shown["status"], shown["messages"]) == ("draft", [])

    await message(http, f"{draft['id']}/submit", party.service, "Fever.")
    await message(http, f"{draft['id']}/replies", party.doctor, "Rest.")
    followed = await http.post(
        f"/v1/consultations/{draft['id']}/patient-replies",
        json={"body": "Thanks.", "attachment_ids": [], "representative": GUARDIAN},
        headers=party.service,
    )
    assert assert_problem(followed, 422)["type"] == REFUSED
    shown = (await http.get(f"/v1/consultations/{draft['id']}", headers=party.service)).json()
    assert (shown["status"], len(shown["messages"])) == ("awaiting_patient", 2)


async def test_a_parent_submitting_a_draft_for_a_twelve_year_old_is_refused(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    draft = await create(
        http, party, message=None, patient=_patient(party, _years_before(today(), 12))
    )

    refused = await http.post(
        f"/v1/consultations/{draft['id']}/submit",
        json={"body": "Fever.", "attachment_ids": [], "representative": PARENT},
        headers=party.service,
    )

    assert "a parent may write only for a child under 12" in assert_problem(refused, 422)["detail"]
    shown = (await http.get(f"/v1/consultations/{draft['id']}", headers=party.service)).json()
    assert (shown["status"], shown["messages"]) == ("draft", [])


async def test_a_next_of_kin_and_a_power_of_attorney_write_for_an_adult(api: Api) -> None:
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    kin = {"id": "kin-1", "relation": "next_of_kin"}
    attorney = _attorney(date(1970, 6, 1))
    case = await create(
        http,
        party,
        message="Question about my father's medicine.",
        patient=_patient(party, date(1940, 2, 29)),
        representative=_next_of_kin(),
    )
    await message(http, f"{case['id']}/replies", party.doctor, "Take one a day.")
    followed = await message(
        http,
        f"{case['id']}/patient-replies",
        party.service,
        "Thank you.",
        representative=attorney,
    )

    reps = [m["representative"] for m in followed["messages"]]
    # A message names who wrote; the holder's birth date is checked, not kept or shown.
    assert reps == [kin, None, {"id": "attorney-1", "relation": "power_of_attorney"}]
    journal = await _journal(api, case["id"])
    assert journal[2][0] == attorney["id"]
    assert journal[2][1] == "Thank you."


async def test_a_consultation_a_guardian_began_before_the_rule_still_reads_and_is_answered(
    api: Api,
) -> None:
    """Started on the workflow directly, as the API started it before guardianship was retired:
    the guardian's message is shown, journaled and answered as before."""
    http, party = api.http, api.party()
    await seed_clinicians(http, party)
    cid = uuid.uuid4().hex
    before = ConsultationStart(
        consultation_id=cid,
        patient=Patient(id=party.patient, birth_date=date(1950, 1, 1)),
        clinician_id=party.clinician,
        recipient_id=party.clinician,
        copayment_accepted=True,
        message=MessageContent(body="Question about my ward's medicine."),
        message_id=uuid.uuid4().hex,
        representative=Representative(id="guardian-1", relation=RepresentativeRelation.GUARDIAN),
    )
    handle = await api.client.start_workflow(
        EConsultation.run,
        before,
        id=consultation_workflow_id(cid),
        task_queue=api.settings.econsult_task_queue,
    )
    await handle.execute_update(EConsultation.opened)

    shown = (await http.get(f"/v1/consultations/{cid}", headers=party.service)).json()
    assert [m["representative"] for m in shown["messages"]] == [GUARDIAN]
    answered = await message(http, f"{cid}/replies", party.doctor, "One a day.")
    assert answered["status"] == "awaiting_patient"
    [(author, _text), _reply] = await _journal(api, cid)
    assert author == "guardian-1"
