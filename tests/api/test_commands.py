"""Commands through the API: refusals by status (409), idempotent creates, the substitute."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.commands import refusals_as_problems
from api.problems import Problem
from domain.models import consultation_workflow_id
from store.tables import Charge, Consultation, JournalEntry, Message
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    command,
    create,
    create_body,
    eventually,
    open_case,
    rows,
    seed_clinicians,
    settled_copayment,
    unique,
)


async def test_same_idempotency_key_and_body_returns_the_same_consultation_and_one_workflow(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    headers = {**party.service, "Idempotency-Key": unique("key")}
    body = create_body(party, message="Is this contagious?")
    first = await api.http.post("/v1/consultations", json=body, headers=headers)
    again = await api.http.post("/v1/consultations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["messages"] == first.json()["messages"]
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 1
    assert await rows(api.sessions, Message, consultation_id=first.json()["id"]) == 1
    handle = api.client.get_workflow_handle(consultation_workflow_id(first.json()["id"]))
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_same_idempotency_key_with_a_different_body_is_refused_with_422(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    headers = {**party.service, "Idempotency-Key": unique("key")}
    first = await api.http.post(
        "/v1/consultations", json=create_body(party, message="First."), headers=headers
    )
    assert first.status_code == 201
    other = await api.http.post(
        "/v1/consultations", json=create_body(party, message="Second."), headers=headers
    )
    assert_problem(other, 422)
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 1


async def test_idempotency_keys_belong_to_their_caller(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    key = unique("key")
    body = create_body(party, message="Hi.")
    mine = await api.http.post(
        "/v1/consultations", json=body, headers={**party.service, "Idempotency-Key": key}
    )
    other_portal = Party(api.tokens, clinician=party.clinician, patient=party.patient)
    theirs = await api.http.post(
        "/v1/consultations", json=body, headers={**other_portal.service, "Idempotency-Key": key}
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_create_with_a_message_is_submitted_at_once(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    case = await create(api.http, party, message="  Rash.  ")
    assert case["status"] == "awaiting_clinician"
    assert case["submitted_at"] is not None
    assert case["reply_due_at"] is not None
    assert [m["body"] for m in case["messages"]] == ["Rash."]
    assert case["copayment"] == {"status": "pending", "tariff": None, "amount_nok": None}
    assert set(case) == {
        "id",
        "status",
        "patient_id",
        "clinician_id",
        "recipient_id",
        "created_at",
        "submitted_at",
        "reply_due_at",
        "overdue",
        "closed_at",
        "close_reason",
        "can_patient_reply",
        "copayment",
        "messages",
    }


async def test_a_patient_may_address_the_active_substitute_who_then_answers(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party, substitute_active=True)
    case = await create(api.http, party, recipient_id=party.substitute)
    assert case["recipient_id"] == party.substitute
    cid = case["id"]
    assert_problem(await api.http.get(f"/v1/consultations/{cid}", headers=party.doctor), 404)
    inbox = (await api.http.get("/v1/inbox", headers=party.vikar)).json()
    assert [item["id"] for item in inbox["items"]] == [cid]
    answered = await command(api, cid, "replies", party.vikar, {"body": "Answer."})
    assert answered.status_code == 200, answered.text


async def test_a_clinician_cannot_reply_to_a_draft(api: Api, party: Party) -> None:
    cid = await open_case(api, party, message=None)
    refused = await command(api, cid, "replies", party.doctor, {"body": "Early."})
    assert_problem(refused, 409)
    assert_problem(await command(api, cid, "close", party.doctor), 409)
    assert await rows(api.sessions, Message, consultation_id=cid) == 0


async def test_a_consultation_is_submitted_only_once(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    again = await command(api, cid, "submit", party.service, {"body": "Again."})
    assert_problem(again, 409)
    assert await rows(api.sessions, Message, consultation_id=cid) == 1


async def test_the_patient_cannot_reply_before_the_clinician_has(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    early = await command(api, cid, "patient-replies", party.service, {"body": "More."})
    assert_problem(early, 409)


async def test_withdraw_before_any_reply_is_never_billed_and_later_commands_answer_409(
    api: Api, party: Party
) -> None:
    cid = await open_case(api, party)
    withdrawn = await command(api, cid, "withdraw", party.service)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["copayment"]["status"] == "not_applicable"
    handle = api.client.get_workflow_handle(consultation_workflow_id(cid))
    await handle.result()
    for name, headers, body in [
        ("withdraw", party.service, None),
        ("replies", party.doctor, {"body": "Too late."}),
        ("patient-replies", party.service, {"body": "Hello?"}),
        ("close", party.doctor, None),
    ]:
        response = await command(api, cid, name, headers, body)
        assert "closed" in assert_problem(response, 409)["detail"]
    assert await rows(api.sessions, Charge, consultation_id=cid) == 0


async def test_withdraw_after_the_clinician_replied_is_refused(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    await command(api, cid, "replies", party.doctor, {"body": "Answer."})
    assert_problem(await command(api, cid, "withdraw", party.service), 409)


async def test_close_with_a_final_message_journals_it_settles_once_and_ends_replies(
    api: Api, party: Party
) -> None:
    cid = await open_case(api, party)
    closed = await api.http.post(
        f"/v1/consultations/{cid}/close",
        json={"message": {"body": "Please book an appointment."}, "billable": False},
        headers=party.doctor,
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["status"] == "closed"
    assert body["can_patient_reply"] is False
    assert body["copayment"]["status"] in ("pending", "no_charge")
    assert (await settled_copayment(api.http, cid, party.doctor))["status"] == "no_charge"
    assert [m["author_role"] for m in body["messages"]] == ["patient", "clinician"]
    journal = await eventually(
        lambda: rows(api.sessions, JournalEntry, consultation_id=cid), lambda n: n == 3
    )
    assert journal == 3
    # No clinician message was billable: no_charge, and no charge row.
    assert await rows(api.sessions, Charge, consultation_id=cid) == 0
    reply = await command(api, cid, "patient-replies", party.service, {"body": "Ok"})
    assert_problem(reply, 409)


async def test_close_without_a_message_is_not_billed(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    closed = await command(api, cid, "close", party.doctor)
    assert closed.status_code == 200, closed.text
    assert closed.json()["copayment"]["status"] == "not_applicable"
    assert closed.json()["close_reason"] == "clinician"


async def test_every_read_of_content_is_in_the_access_log(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    await api.http.get(f"/v1/consultations/{cid}", headers=party.service)
    await api.http.get(f"/v1/consultations/{cid}", headers=party.doctor)
    log = (await api.http.get(f"/v1/consultations/{cid}/access-log", headers=party.service)).json()
    assert [(e["actor_id"], e["role"], e["action"]) for e in log["entries"]] == [
        (party.portal, "service", "create"),
        (party.portal, "service", "read"),
        (party.clinician, "clinician", "read"),
    ]


async def test_a_workflow_task_in_failed_state_answers_503_with_retry_after() -> None:
    # The server's answer while a dead or overloaded worker's workflow task is retried.
    not_ready = RPCError(
        "Unable to perform workflow execution update due to Workflow Task in failed state.",
        RPCStatusCode.FAILED_PRECONDITION,
        b"",
    )
    with pytest.raises(Problem) as answer:
        async with refusals_as_problems("reply"):
            raise not_ready
    assert answer.value.status == 503
    assert int(answer.value.headers["Retry-After"]) > 0
