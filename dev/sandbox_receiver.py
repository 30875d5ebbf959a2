"""The sandbox's receivers: `make sandbox` points the portal and practice webhooks and the
record system (FHIR) here, so an integrator reads what their own would have got.

Webhooks (`POST /portal`, `POST /practice`): each delivery is checked against its signature
(Standard Webhooks), printed as one line and kept in memory; `GET /events` lists every event
received, `GET /events/<type>` those of one type (404 while there are none, so `curl -f`
checks for one). A delivery whose signature does not verify is answered 401 and kept out.

Record system: `POST /token` grants a bearer token for HTTP Basic FHIR_CLIENT_ID and
FHIR_CLIENT_SECRET (client credentials); `POST /fhir/Communication` with that token stores the
journal entry once per `If-None-Exist` identifier (201, or 200 for a repeat), and `GET
/fhir/Communication` answers them as a FHIR searchset Bundle.

`python -m dev.sandbox_receiver PORT`, with the settings the worker signs and logs in with.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# Path -> the setting holding the keys its deliveries are signed with.
RECEIVERS = {"/portal": "WEBHOOK_PORTAL_SECRETS", "/practice": "WEBHOOK_PRACTICE_SECRETS"}


class Received:
    """Every verified delivery and journal entry, in order of arrival."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # The one token this record system grants.
        self.token = secrets.token_urlsafe(24)

    def add_entry(self, identifier: str, resource: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Stored once per identifier: (whether it is new, the stored resource)."""
        with self._lock:
            if identifier in self._entries:
                return False, self._entries[identifier]
            stored = {**resource, "id": uuid.uuid4().hex}
            self._entries[identifier] = stored
            return True, stored

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries.values())

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    def of_type(self, kind: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if kind is None or e["type"] == kind]


def _verifiers() -> dict[str, list[Webhook]]:
    return {
        path: [Webhook(key.strip()) for key in os.environ.get(setting, "").split(",") if key]
        for path, setting in RECEIVERS.items()
    }


def handler(
    received: Received, verifiers: dict[str, list[Webhook]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:  # the name http.server calls
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path == "/token":
                self._grant(headers)
                return
            if self.path == "/fhir/Communication":
                self._journal(body, headers)
                return
            if not any(_verified(v, body, headers) for v in verifiers.get(self.path, [])):
                self._answer(401, {"error": "signature does not verify"})
                return
            envelope = json.loads(body)
            event = {
                "receiver": self.path.strip("/"),
                "webhook_id": headers["webhook-id"],
                **envelope,
            }
            received.add(event)
            print(json.dumps(event), flush=True)
            self._answer(204)

        def _grant(self, headers: dict[str, str]) -> None:
            if headers.get("authorization") != _basic(
                os.environ.get("FHIR_CLIENT_ID", ""), os.environ.get("FHIR_CLIENT_SECRET", "")
            ):
                self._answer(401, {"error": "invalid_client"})
                return
            grant = {"access_token": received.token, "token_type": "Bearer", "expires_in": 3600}
            self._answer(200, grant)

        def _journal(self, body: str, headers: dict[str, str]) -> None:
            if headers.get("authorization") != f"Bearer {received.token}":
                self._answer(401, {"error": "invalid_token"})
                return
            identifier = headers.get("if-none-exist", "").removeprefix("identifier=")
            new, stored = received.add_entry(identifier, json.loads(body))
            print(json.dumps({"receiver": "record-system", "identifier": identifier}), flush=True)
            self._answer(201 if new else 200, stored)

        def do_GET(self) -> None:
            if self.path == "/fhir/Communication":
                entries = [{"resource": entry} for entry in received.entries()]
                bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
                self._answer(200, {**bundle, "total": len(entries)})
                return
            if self.path == "/events":
                self._answer(200, received.of_type(None))
                return
            if self.path.startswith("/events/"):
                events = received.of_type(self.path.removeprefix("/events/"))
                self._answer(200 if events else 404, events)
                return
            self._answer(404, {"error": "GET /events or /events/<type>"})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # each delivery is printed once, above

    return Handler


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _verified(verifier: Webhook, body: str, headers: dict[str, str]) -> bool:
    try:
        verifier.verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(Received(), _verifiers()))
    print(f"sandbox webhook receiver on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
