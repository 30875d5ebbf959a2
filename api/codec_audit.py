"""Who decoded which workflow's payloads through the codec endpoint: one log line per request,
and for a consultation's workflow an access log entry on that consultation."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload

from api.services import Services
from domain.models import WORKFLOW_ID_PREFIX
from infra.codec import ENCODING, workflow_id_of
from store.access import Reader

log = logging.getLogger("econsult.codec")

DECODED = "decode"
# An encrypted payload that names no workflow: encoded before ids were bound, or by the UI.
UNNAMED = "unnamed"


def decoded_workflows(payloads: Sequence[Payload]) -> list[str]:
    """The workflows whose encrypted payloads these are (UNNAMED for those naming none)."""
    encrypted = [p for p in payloads if p.metadata.get("encoding") == ENCODING]
    return sorted({workflow_id_of(payload) or UNNAMED for payload in encrypted})


async def audit_decode(
    services: Services, actor_id: str, role: str, payloads: Sequence[Payload]
) -> None:
    """Written before the payloads are decrypted: a decode the log cannot record is refused."""
    workflows = decoded_workflows(payloads)
    consultations = [
        workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        for workflow_id in workflows
        if workflow_id.startswith(WORKFLOW_ID_PREFIX)
    ]
    reader = Reader(actor_id=actor_id, role=role, action=DECODED)
    await services.access_log.record_all(consultations, reader)
    log.info(
        "codec decode",
        extra={"actor_id": actor_id, "caller_role": role, "workflow_id": ",".join(workflows)},
    )
