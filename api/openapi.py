"""Tags of the OpenAPI document: one per audience, so each team finds its calls together."""

from __future__ import annotations

from enum import Enum
from typing import Any

PORTAL = "portal"
CLINICIAN = "clinician"
PRACTICE = "practice"
RECORD_SYSTEM = "record-system"
ADMIN = "admin"
OPERATIONS = "operations"
SANDBOX = "sandbox"

# Calls both parties of a consultation make (the portal for the patient, the clinician).
# FastAPI's `tags` parameter is an invariant list of str | Enum.
PARTIES: list[str | Enum] = [PORTAL, CLINICIAN]
ATTACHMENT_READERS: list[str | Enum] = [PORTAL, CLINICIAN, RECORD_SYSTEM]
DIRECTORY_READERS: list[str | Enum] = [PORTAL, CLINICIAN, ADMIN]

TAGS: list[dict[str, Any]] = [
    {"name": PORTAL, "description": "The patient portal backend (scope econsult:service)."},
    {"name": CLINICIAN, "description": "Clinicians' record systems (scope econsult:clinician)."},
    {"name": PRACTICE, "description": "A practice's administration (scope econsult:practice)."},
    {
        "name": RECORD_SYSTEM,
        "description": (
            "A practice's record system, fetching the attachments its journal entries link to "
            "(scope econsult:record-system)."
        ),
    },
    {"name": ADMIN, "description": "Directory, registers and redelivery (scope econsult:admin)."},
    {"name": OPERATIONS, "description": "Health, readiness and the Temporal UI's codec."},
    {
        "name": SANDBOX,
        "description": (
            "Sandbox only (ECONSULT_SANDBOX, `make sandbox`): a test clock and test events "
            "(scope econsult:admin); 404 on every other deployment."
        ),
    },
]
