"""Journal entries sent on to a FHIR R4 record system as `Communication` resources.

The journal table stays the exactly-once record; this activity forwards an entry already in it,
to the record system of the entry's practice when its practice record names one, else to the
service-wide one. Each POST is a conditional create (`If-None-Exist` on the entry's identifier,
the same whatever the destination), so a retried or crashed attempt finds the first resource
instead of writing a second one. The resources themselves are built in
activities/fhir_resources.py.
"""

from __future__ import annotations

import logging
import time

import httpx
from fhir.resources.R4B.communication import Communication
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters import DeliveryRefusedError, refused_by_policy, refused_for_good
from activities.endpoints import PracticeEndpoints, RecordSystemTarget
from activities.fhir_resources import (
    FhirSystems,
    communication_for,
)
from activities.record_auth import (
    DPOP_TOKEN_TYPE,
    ClientAuthentication,
    ClientSecretBasic,
    DpopKey,
    PrivateKeyJwt,
    asks_for_nonce,
)
from domain.effects import (
    REFUSED_BY_OUTBOUND_POLICY,
    JournalEntryInput,
    JournalForward,
    JournalForwardResult,
)
from domain.entries import answered_role
from infra.outbound import OutboundPolicy, OutboundRefusedError
from infra.secrets import private_signing_key
from infra.settings import Settings
from store.attachments import Attachments
from store.journal import JournalTable

log = logging.getLogger("econsult.fhir")

FHIR_JSON = "application/fhir+json"
# A token request and a create together stay inside the activity's start-to-close timeout,
# so a hung server fails only the attempt.
FHIR_HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
# A token is renewed this long before the expiry its issuer announced.
TOKEN_MARGIN_SECONDS = 30
# The record system refused an entry for good; the journal row keeps the status.
JOURNAL_REFUSED = "JournalEntryRefused"
# The answer of a forward that found no record system to send to (the practice's was removed
# after the entry was taken, and none is set service-wide): the journal table alone keeps it.
NOT_SENT = 0


class RecordSystemUnavailableError(Exception):
    """A 5xx, 401, 408, 429 or unreadable answer: the activity's retry policy tries again."""


class ClientCredentials:
    """A token from an OAuth 2 client-credentials grant, kept until shortly before expiry;
    bound to `dpop`'s key when the record system asks for DPoP."""

    def __init__(
        self,
        token_url: str,
        client: ClientAuthentication,
        scope: str | None,
        dpop: DpopKey | None = None,
    ) -> None:
        self._token_url = token_url
        self._client_auth = client
        self._scope = scope
        self._dpop = dpop
        self._token: str | None = None
        self._expires_at = 0.0

    async def token(self, client: httpx.AsyncClient) -> str:
        if self._token is None or time.monotonic() >= self._expires_at:
            answer = await self._request(client)
            if self.retry_with_nonce(self._token_url, answer):
                answer = await self._request(client)
            if not answer.is_success:
                raise RecordSystemUnavailableError(
                    f"token endpoint answered {answer.status_code}{_oauth_error(answer)}"
                )
            grant = answer.json()
            token_type = str(grant.get("token_type", ""))
            if self._dpop is not None and token_type.lower() != DPOP_TOKEN_TYPE.lower():
                # A bearer token where a bound one was asked for: a copy would be usable.
                raise RecordSystemUnavailableError(
                    f"token endpoint issued a {token_type[:32]!r} token, not a DPoP-bound one"
                )
            self._token = str(grant["access_token"])
            lifetime = float(grant.get("expires_in", 300))
            self._expires_at = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 0)
        return self._token

    async def _request(self, client: httpx.AsyncClient) -> httpx.Response:
        """One token request, with a new client assertion and a new proof each time."""
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        fields, auth = self._client_auth.token_request(self._token_url)
        headers = {"dpop": self._dpop.proof("POST", self._token_url)} if self._dpop else {}
        return await client.post(
            self._token_url,
            data=form | fields,
            headers=headers,
            auth=auth or httpx.USE_CLIENT_DEFAULT,
        )

    async def authorization(
        self, client: httpx.AsyncClient, method: str, url: str
    ) -> dict[str, str]:
        """The headers that authorize one request: the token, and with DPoP a fresh proof."""
        token = await self.token(client)
        if self._dpop is None:
            return {"authorization": f"Bearer {token}"}
        return {"authorization": f"DPoP {token}", "dpop": self._dpop.proof(method, url, token)}

    def retry_with_nonce(self, url: str, answer: httpx.Response) -> bool:
        """Keep the nonce a DPoP server sent; True if it refused for want of that new nonce,
        so the request is worth sending once more."""
        if self._dpop is None:
            return False
        return self._dpop.remember_nonce(url, answer) and asks_for_nonce(answer)

    def forget(self) -> None:
        self._token = None


def _oauth_error(answer: httpx.Response) -> str:
    """The OAuth error code of a refusal (RFC 6749 section 5.2), for the operator's log."""
    try:
        error = answer.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f" ({str(error)[:64]})" if error else ""


class FhirRecordSystem:
    """Conditional create of Communication resources on a FHIR server."""

    def __init__(
        self,
        base_url: str,
        credentials: ClientCredentials,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        # A practice's own record system (its token URL too) only through the outbound policy.
        self._outbound = outbound
        self._client: httpx.AsyncClient | None = None

    async def create(self, resource: Communication, identifier: str) -> tuple[int, str]:
        """POST once per identifier; answers the server's status and the resource's id."""
        if self._client is None:
            self._client = (
                self._outbound.client(FHIR_HTTP_TIMEOUT)
                if self._outbound
                else httpx.AsyncClient(timeout=FHIR_HTTP_TIMEOUT)
            )
        url = f"{self._base_url}/Communication"
        answer = await self._post(url, resource, identifier)
        if self._credentials.retry_with_nonce(url, answer):
            # The same conditional create again: a first one stored counts as found.
            answer = await self._post(url, resource, identifier)
        status = answer.status_code
        if answer.is_success:
            # FHIR answers a create 201, or 200 when If-None-Exist found the entry; any other
            # 2xx (202 queued, 204 with no body) is still the server taking it, and sending
            # it again would not be answered otherwise: it is delivered, never retried.
            return status, _resource_id(answer)
        if status == 401:
            self._credentials.forget()
        elif refused_for_good(status):
            raise DeliveryRefusedError(status)
        raise RecordSystemUnavailableError(f"record system answered {status}")

    async def _post(self, url: str, resource: Communication, identifier: str) -> httpx.Response:
        assert self._client is not None
        authorization = await self._credentials.authorization(self._client, "POST", url)
        return await self._client.post(
            url,
            content=resource.model_dump_json(),
            headers={
                **authorization,
                "content-type": FHIR_JSON,
                "accept": FHIR_JSON,
                "if-none-exist": f"identifier={identifier}",
            },
        )


def _resource_id(answer: httpx.Response) -> str:
    """The id from the body, or from Location ([base]/Communication/<id>/_history/<v>); empty
    when the server gives neither (a 204 without Location), which the journal row keeps."""
    try:
        body = answer.json() if answer.content else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("resourceType") == "Communication" and body.get("id"):
        return str(body["id"])
    location: str = answer.headers.get("location", "")
    parts = location.split("/")
    if "Communication" in parts and parts.index("Communication") + 1 < len(parts):
        return parts[parts.index("Communication") + 1]
    return ""


def _own_record_system(target: RecordSystemTarget, outbound: OutboundPolicy) -> FhirRecordSystem:
    """A client for the practice's record system, with a DPoP key of its own when it binds
    tokens (so one practice's key never proves another's token)."""
    client: ClientAuthentication
    if target.signing_key is not None:
        # Checked when read from the practice's file; the reference is not needed again.
        key = private_signing_key(target.signing_key, "client_assertion_key_ref")
        client = PrivateKeyJwt(target.client_id, key)
    else:
        client = ClientSecretBasic(target.client_id, target.client_secret or "")
    dpop = DpopKey() if target.dpop else None
    credentials = ClientCredentials(target.token_url, client, target.scope, dpop)
    return FhirRecordSystem(target.fhir_base_url, credentials, outbound)


class RecordSystemActivities:
    """Forwards journal entries: each to its practice's own record system, or the service's."""

    def __init__(
        self,
        journal: JournalTable,
        attachments: Attachments,
        record_system: FhirRecordSystem | None,
        systems: FhirSystems,
        practices: PracticeEndpoints | None = None,
    ) -> None:
        self._journal = journal
        self._attachments = attachments
        self._service_wide = record_system
        self._systems = systems
        self._practices = practices
        # Per practice, with the target it was built for: its token is cached per practice,
        # and a changed record (or rotated secret) gets a new client and a new token.
        self._own: dict[str, tuple[RecordSystemTarget, FhirRecordSystem]] = {}

    async def forwards(self, practice_id: str | None) -> bool:
        """Whether entries of this practice go to a record system at all."""
        if self._service_wide is not None:
            return True
        return self._practices is not None and await self._practices.has_record_system(practice_id)

    async def _record_system_for(self, practice_id: str | None) -> FhirRecordSystem | None:
        if self._practices is None:
            return self._service_wide
        target = await self._practices.record_system(practice_id)
        if target is None or practice_id is None:
            return self._service_wide
        kept = self._own.get(practice_id)
        if kept is None or kept[0] != target:
            kept = (target, _own_record_system(target, self._practices.outbound))
            self._own[practice_id] = kept
        return kept[1]

    async def _answered(self, entry: JournalEntryInput) -> str | None:
        """Read from the journal as the entry is sent, so the workflow issues nothing new and
        a redelivery names the same message."""
        role = answered_role(entry)
        if role is None:
            return None
        return await self._journal.latest_message_before(entry.entry_key, role)

    @activity.defn
    async def forward_journal_entry(self, forward: JournalForward) -> JournalForwardResult:
        """Send a journaled entry to the record system once; its answer is kept on the row."""
        row = await self._journal.read(forward.entry_key)
        if row.external_status is not None:
            if refused_for_good(row.external_status):
                raise _refused(DeliveryRefusedError(row.external_status))
            return _result(forward.entry_key, row.external_status, row.external_id or "")
        record_system = await self._record_system_for(row.entry.practice_id)
        if record_system is None:
            log.warning(
                "journal entry kept in the journal table only: no record system",
                extra={"entry_key": forward.entry_key, "practice_id": row.entry.practice_id},
            )
            return _result(forward.entry_key, NOT_SENT, "")
        infos = await self._attachments.infos(row.entry.attachment_ids)
        attachments = [infos[i] for i in row.entry.attachment_ids if i in infos]
        resource = communication_for(
            row.entry, attachments, self._systems, await self._answered(row.entry)
        )
        try:
            status, resource_id = await record_system.create(
                resource, f"{self._systems.entry}|{forward.entry_key}"
            )
        except OutboundRefusedError as error:
            keys = {"entry_key": forward.entry_key, "practice_id": row.entry.practice_id}
            refused = refused_by_policy(error, **keys)
            await self._journal.mark_external(forward.entry_key, refused.status, None)
            raise _refused(refused, REFUSED_BY_OUTBOUND_POLICY) from error
        except DeliveryRefusedError as refused:
            await self._journal.mark_external(forward.entry_key, refused.status, None)
            raise _refused(refused) from refused
        await self._journal.mark_external(forward.entry_key, status, resource_id or None)
        log.info(
            "journal entry forwarded",
            extra={
                "entry_key": forward.entry_key,
                "practice_id": row.entry.practice_id,
                "http_status": status,
            },
        )
        return _result(forward.entry_key, status, resource_id)


def _result(entry_key: str, status: int, resource_id: str) -> JournalForwardResult:
    return JournalForwardResult(entry_key=entry_key, http_status=status, resource_id=resource_id)


def _refused(refused: DeliveryRefusedError, *why: str) -> ApplicationError:
    # The status as a detail: the workflow's `journal entry refused` line names it, and tells
    # the practice unless the outbound policy, not its record system, refused.
    return ApplicationError(
        str(refused), refused.status, *why, type=JOURNAL_REFUSED, non_retryable=True
    )


def record_system_activities(
    settings: Settings,
    journal: JournalTable,
    attachments: Attachments,
    practices: PracticeEndpoints | None = None,
) -> RecordSystemActivities | None:
    """The FHIR forwarder: to the service-wide record system when a base URL is set (the
    settings insist on its credentials), and to each practice's own when `practices` is given.
    None when neither can ever apply."""
    service_wide = None
    if settings.fhir_base_url:
        assert settings.fhir_token_url and settings.fhir_client_id and settings.fhir_client_secret
        credentials = ClientCredentials(
            settings.fhir_token_url,
            ClientSecretBasic(settings.fhir_client_id, settings.fhir_client_secret),
            settings.fhir_scope,
        )
        service_wide = FhirRecordSystem(settings.fhir_base_url, credentials)
    if service_wide is None and practices is None:
        return None
    systems = FhirSystems(
        entry=settings.fhir_entry_system,
        consultation=settings.fhir_consultation_system,
        attachments_url=settings.public_api_url.rstrip("/"),
    )
    return RecordSystemActivities(journal, attachments, service_wide, systems, practices)
