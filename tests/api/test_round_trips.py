"""Round trips per command: the SQL statements the API sends to the case store for each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.support import Api, Party, create, seed_clinicians, unique


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """Every statement the API's engine sends while the block runs."""
    engine = api.sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _counted(api: Api, url: str, headers: dict[str, str], body: Any) -> int:
    with statements(api) as sent:
        response = await api.http.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    for s in sent:
        print("   ", " ".join(s.split())[:150])
    return len(sent)


async def test_probe(any_api: Api) -> None:
    api = any_api
    for keyed in (False, True):
        counts = {}
        def h(headers: dict[str, str]) -> dict[str, str]:
            return {**headers, "Idempotency-Key": unique("key")} if keyed else headers
        party = api.party()
        await seed_clinicians(api.http, party)
        from tests.api.support import create_body
        print("create")
        counts["create"] = await _counted(api, "/v1/consultations", h(party.service), create_body(party, message="Rash."))
        draft = await create(api.http, party, message=None)
        print("submit")
        counts["submit"] = await _counted(api, f"/v1/consultations/{draft['id']}/submit", h(party.service), {"body": "Rash."})
        print("replies")
        counts["replies"] = await _counted(api, f"/v1/consultations/{draft['id']}/replies", h(party.doctor), {"body": "Cream."})
        print("patient-replies")
        counts["patient-replies"] = await _counted(api, f"/v1/consultations/{draft['id']}/patient-replies", h(party.service), {"body": "Thanks."})
        print("close")
        counts["close"] = await _counted(api, f"/v1/consultations/{draft['id']}/close", h(party.doctor), None)
        case = await create(api.http, party)
        print("reassign")
        counts["reassign"] = await _counted(api, f"/v1/consultations/{case['id']}/reassign", h(party.practice_admin()), {"recipient_id": party.substitute, "reason": "ill"})
        print("withdraw")
        counts["withdraw"] = await _counted(api, f"/v1/consultations/{case['id']}/withdraw", h(party.service), None)
        print("KEYED" if keyed else "PLAIN", api.settings.database_url.split(":")[0], counts)
