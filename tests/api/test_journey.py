"""The whole story of docs/lifecycle.md through the HTTP API, on each case store backend."""

from __future__ import annotations

from tests.api.support import (
    PNG,
    Api,
    assert_problem,
    create,
    eventually,
    message,
    seed_clinicians,
    settled_copayment,
    upload,
)
from tests.support import effects, notifications


async def test_patient_and_clinician_complete_an_econsultation_over_http(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    await seed_clinicians(http, party, substitute_active=True)

    # The portal checks the clinician and the substitute the patient may choose instead.
    clinician = (await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)).json()
    assert clinician["accepts_econsultations"] is True
    assert clinician["substitute"]["clinician_id"] == party.substitute
    assert clinician["substitute"]["active"] is True
    assert clinician["expected_reply_by"] is not None
    substitute = await http.get(f"/v1/clinicians/{party.substitute}", headers=party.service)
    assert substitute.json()["accepts_econsultations"] is True

    # The patient uploads a picture, drafts with co-payment accepted, then submits.
    uploaded = await upload(http, party.service, PNG, "rash.png")
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["content_type"] == "image/png"
    case = await create(any_api.http, party, message=None)
    assert case["status"] == "draft"
    cid = case["id"]
    submitted = await http.post(
        f"/v1/consultations/{cid}/submit",
        json={"body": "  A rash on my arm for two weeks.  ", "attachment_ids": [attachment["id"]]},
        headers=party.service,
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "awaiting_clinician"
    assert submitted.json()["reply_due_at"] is not None
    assert submitted.json()["messages"][0]["body"] == "A rash on my arm for two weeks."

    # The patient sees it in their list; the clinician in the inbox.
    mine = await http.get(f"/v1/patients/{party.patient}/consultations", headers=party.service)
    assert [item["id"] for item in mine.json()["items"]] == [cid]
    inbox = await http.get("/v1/inbox", headers=party.doctor)
    assert [item["id"] for item in inbox.json()["items"]] == [cid]
    assert "messages" not in inbox.json()["items"][0]

    # The clinician reads it and the attachment; each read is in the access log.
    log_before = (
        await http.get(f"/v1/consultations/{cid}/access-log", headers=party.service)
    ).json()["entries"]
    read = (await http.get(f"/v1/consultations/{cid}", headers=party.doctor)).json()
    assert read["messages"][0]["attachments"] == [
        {
            **{k: attachment[k] for k in ("id", "filename", "content_type", "size", "sha256")},
            "missing": False,
        }
    ]
    download = await http.get(f"/v1/attachments/{attachment['id']}", headers=party.doctor)
    assert download.content == PNG
    log_after = (
        await http.get(f"/v1/consultations/{cid}/access-log", headers=party.doctor)
    ).json()["entries"]
    assert len(log_after) == len(log_before) + 2
    assert {(e["actor_id"], e["role"], e["action"]) for e in log_after[-2:]} == {
        (party.clinician, "clinician", "read"),
        (party.clinician, "clinician", "attachment"),
    }

    # The clinician answers; the patient is told (without content) and follows up.
    replied = await message(http, f"{cid}/replies", party.doctor, "Use the cream twice a day.")
    assert replied["status"] == "awaiting_patient"
    assert replied["can_patient_reply"] is True
    assert replied["copayment"]["status"] in ("pending", "charged")
    assert (await settled_copayment(http, cid, party.doctor))["status"] == "charged"
    told = await eventually(
        lambda: notifications(any_api.sessions, cid),
        lambda found: any(n.event == "reply_available" for n in found),
    )
    # The patient is told there is news, by consultation id: no patient id, no content.
    assert [n.audience for n in told if n.event == "reply_available"] == ["patient"]
    assert all(n.recipient_id != party.patient for n in told)
    follow_up = await message(
        http, f"{cid}/patient-replies", party.service, "It is better, but still itches."
    )
    assert follow_up["status"] == "awaiting_clinician"

    # The clinician answers and closes in one go; the patient can no longer reply.
    closed = await http.post(
        f"/v1/consultations/{cid}/replies",
        json={"body": "Book an appointment if it persists.", "close": True},
        headers=party.doctor,
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["close_reason"] == "clinician"
    refused = await http.post(
        f"/v1/consultations/{cid}/patient-replies",
        json={"body": "One more thing."},
        headers=party.service,
    )
    assert_problem(refused, 409)
    final = (await http.get(f"/v1/consultations/{cid}", headers=party.service)).json()
    assert final["can_patient_reply"] is False
    assert [m["author_role"] for m in final["messages"]] == [
        "patient",
        "clinician",
        "patient",
        "clinician",
    ]

    # Exactly one charge; a journal entry for each of the four messages and the close.
    done = await eventually(lambda: effects(any_api.sessions, cid), lambda e: e["journal"] == 5)
    assert done["messages"] == 4
    assert done["journal"] == 5
    assert done["charges"] == 1
    assert final["copayment"]["status"] == "charged"
    assert final["copayment"]["tariff"] in ("2ae", "2aek")
