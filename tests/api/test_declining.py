"""Declining: a clinician closes a case as not suited to an e-consultation. The patient gets
the practice's standard text (or the close's own message) as the closing message, nothing is
billed whatever `billable` says, and the close is journaled like any other."""

from __future__ import annotations

from domain.practices import DEFAULT_DECLINE_MESSAGE
from store.tables import Charge, JournalEntry
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    command,
    eventually,
    open_case,
    rows,
    settled_copayment,
)


async def _declined(api: Api, party: Party, body: dict[str, object]) -> dict[str, object]:
    cid = await open_case(api, party)
    closed = await command(api, cid, "close", party.doctor, body)
    assert closed.status_code == 200, closed.text
    answer: dict[str, object] = closed.json()
    return answer


async def test_a_declined_case_gets_the_practice_text_and_is_never_billed(
    api: Api, party: Party
) -> None:
    text = "Dette egner seg ikke for e-konsultasjon. Bestill time hos fastlegen."
    put = await api.http.put(
        f"/v1/practices/{party.practice}",
        json={"name": "Legesenteret", "decline_message": text},
        headers=party.admin,
    )
    assert put.status_code == 200, put.text

    case = await _declined(api, party, {"reason": "declined", "billable": True})

    cid = str(case["id"])
    assert (case["status"], case["close_reason"]) == ("closed", "declined")
    messages = case["messages"]
    assert isinstance(messages, list)
    assert [(m["author_role"], m["body"]) for m in messages[1:]] == [("clinician", text)]
    assert (await settled_copayment(api.http, cid, party.doctor))["status"] == "no_charge"
    assert await rows(api.sessions, Charge, consultation_id=cid) == 0
    # The patient's message, the declining message and the close.
    journal = await eventually(
        lambda: rows(api.sessions, JournalEntry, consultation_id=cid), lambda n: n == 3
    )
    assert journal == 3


async def test_a_practice_without_a_record_declines_with_the_default_text(
    api: Api, party: Party
) -> None:
    case = await _declined(api, party, {"reason": "declined"})

    messages = case["messages"]
    assert isinstance(messages, list)
    assert messages[-1]["body"] == DEFAULT_DECLINE_MESSAGE
    assert case["close_reason"] == "declined"


async def test_a_decline_with_its_own_message_sends_that_message(api: Api, party: Party) -> None:
    own = {"body": "Dette må undersøkes. Ring legekontoret i dag."}

    case = await _declined(api, party, {"reason": "declined", "message": own})

    messages = case["messages"]
    assert isinstance(messages, list)
    assert messages[-1]["body"] == own["body"]
    cid = str(case["id"])
    assert (await settled_copayment(api.http, cid, party.doctor))["status"] == "no_charge"


async def test_a_close_reason_other_than_declined_is_refused(api: Api, party: Party) -> None:
    cid = await open_case(api, party)

    refused = await command(api, cid, "close", party.doctor, {"reason": "bored"})

    assert_problem(refused, 422)
