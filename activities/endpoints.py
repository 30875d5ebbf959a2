"""Where a practice's deliveries go: its own webhook and record system, as its practice record
names them (read at most once per ENDPOINTS_FRESH_FOR per worker), with the secrets read from
its folder ECONSULT_SECRETS_DIR/<practice_id>/ at each delivery (so a rotated file counts at
once), and clients that reach only the addresses the outbound policy allows. None when the
practice has no endpoint of its own, or no record at all: then the service-wide settings apply.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from infra.outbound import OutboundPolicy
from infra.secrets import SecretKind, SecretReferenceError, SecretsDirectory
from store.practices import Practice, Practices, RecordSystemAuth

log = logging.getLogger("econsult.endpoints")

# A practice's webhook, and whether it has a record system, are read from its record at most
# once per this many seconds per worker: a practice that gets, changes or loses one is
# delivered to accordingly by every worker within it. A webhook delivery that fails drops the
# kept record, so the retry or an operator's redelivery after a fix reads it afresh; the record
# system itself is read at each forward. Whether a practice takes e-consultations and its
# closed days are read afresh where they decide (the directory).
ENDPOINTS_FRESH_FOR = 30.0


class SecretUnavailableError(Exception):
    """A practice's secret reference no longer resolves: the delivery waits and is retried, as
    for an unreachable endpoint, until an operator puts the file back."""


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    keys: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class RecordSystemTarget:
    """A practice's record system with its credential as read now: the client secret, or the
    private JWK (its JSON text, so a rotated file compares unequal) the assertion is signed
    with."""

    fhir_base_url: str
    token_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    signing_key: str | None = field(default=None, repr=False)
    dpop: bool = False
    scope: str | None = None


class PracticeEndpoints:
    """A practice's own endpoints: its webhook from its record as read within `fresh_for`
    seconds, its record system as read now."""

    def __init__(
        self,
        practices: Practices,
        secrets: SecretsDirectory | None,
        outbound: OutboundPolicy | None = None,
        *,
        fresh_for: float = ENDPOINTS_FRESH_FOR,
    ) -> None:
        self._practices = practices
        self._secrets = secrets
        # Public addresses only unless the operator names the region's own networks.
        self.outbound = outbound or OutboundPolicy()
        self._fresh_for = fresh_for
        self._kept: dict[str, tuple[float, Practice | None]] = {}

    async def _kept_practice(self, practice_id: str | None) -> Practice | None:
        if not practice_id:
            return None
        now = time.monotonic()
        kept = self._kept.get(practice_id)
        if kept is not None and now - kept[0] < self._fresh_for:
            return kept[1]
        practice = await self._practices.get(practice_id)
        self._kept[practice_id] = (now, practice)
        return practice

    def forget(self, practice_id: str | None) -> None:
        """A delivery to the practice's endpoint failed: read its record afresh next time."""
        if practice_id:
            self._kept.pop(practice_id, None)

    async def webhook(self, practice_id: str | None) -> WebhookTarget | None:
        practice = await self._kept_practice(practice_id)
        if practice is None or practice.webhook is None:
            return None
        keys = tuple(
            self._secret(practice.practice_id, reference, SecretKind.WEBHOOK_KEY)
            for reference in practice.webhook.secret_refs
        )
        return WebhookTarget(url=practice.webhook.url, keys=keys)

    async def record_system(self, practice_id: str | None) -> RecordSystemTarget | None:
        practice = await self._practices.get(practice_id) if practice_id else None
        if practice is None or practice.record_system is None:
            return None
        own, practice_id = practice.record_system, practice.practice_id
        client_secret = signing_key = None
        if own.auth == RecordSystemAuth.PRIVATE_KEY_JWT:
            key_ref = own.client_assertion_key_ref
            signing_key = self._secret(practice_id, key_ref, SecretKind.SIGNING_KEY)
        else:
            client_secret = self._secret(practice_id, own.client_secret_ref, SecretKind.TEXT)
        return RecordSystemTarget(
            fhir_base_url=own.fhir_base_url,
            token_url=own.token_url,
            client_id=own.client_id,
            client_secret=client_secret,
            signing_key=signing_key,
            dpop=own.dpop,
            scope=own.scope,
        )

    async def has_record_system(self, practice_id: str | None) -> bool:
        """Whether the practice names a record system (its secret is read when sending)."""
        practice = await self._kept_practice(practice_id)
        return practice is not None and practice.record_system is not None

    def _secret(self, practice_id: str, reference: str | None, kind: SecretKind) -> str:
        reference = reference or ""
        try:
            if self._secrets is None:
                raise SecretReferenceError(reference, "ECONSULT_SECRETS_DIR is not set")
            # A key that cannot sign is refused here, as a missing file is: the delivery waits.
            return self._secrets.checked(practice_id, reference, kind)
        except SecretReferenceError as error:
            # The practice and the file's name, never the secret: ops put the file back.
            log.warning(
                "practice secret unavailable, delivery waits and is retried",
                extra={
                    "practice_id": practice_id,
                    "secret_ref": reference,
                    "reason": error.reason,
                },
            )
            raise SecretUnavailableError(
                f"practice {practice_id}: secret reference {reference!r} does not resolve "
                f"({error.reason})"
            ) from None
