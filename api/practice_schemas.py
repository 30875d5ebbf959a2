"""Request and response bodies of a practice (`/v1/practices/{practice_id}`): its name, decline
text, closed days, and its own webhook and record system, named by secret file references."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from api.schemas import Strict
from domain.base import NOT_BLANK, MessageBody
from infra.secrets import REFERENCE_PATTERN
from store.practices import PracticeRecordSystem, PracticeWebhook, RecordSystemAuth

# Checked again after DNS at the PUT (infra/outbound.py): https to public addresses, or the
# region's own networks (OUTBOUND_ALLOWED_NETWORKS), where http is allowed too.
# Spaces and control characters spelt out: `\s` means other things in the document's dialect
# (ECMA-262), pydantic's (Rust) and the fuzzer's, U+0085 and U+001C for two.
_NOT_URL = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
EndpointUrl = Annotated[
    str, StringConstraints(max_length=2000, pattern=rf"^https?://[^{_NOT_URL}/?#]+[^{_NOT_URL}]*$")
]
SecretRef = Annotated[
    str,
    StringConstraints(pattern=REFERENCE_PATTERN),
    Field(
        description="the name of a file in the practice's own folder, "
        "ECONSULT_SECRETS_DIR/<practice_id>/, holding the secret"
    ),
]


class PracticeWebhookIn(Strict):
    url: Annotated[EndpointUrl, Field(description="receives the practice's events, signed")]
    secret_refs: Annotated[
        list[SecretRef],
        Field(
            min_length=1,
            max_length=5,
            description="files holding one Standard Webhooks whsec_ key each; every key signs, "
            "so a rotation adds the new file first and drops the old one later",
        ),
    ]


class PracticeRecordSystemIn(Strict):
    fhir_base_url: Annotated[
        EndpointUrl, Field(description="FHIR R4 base; entries are Communication resources")
    ]
    token_url: Annotated[EndpointUrl, Field(description="OAuth 2 client-credentials grant")]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    auth: Annotated[
        RecordSystemAuth,
        Field(
            description="client_secret_basic: the client id and secret as HTTP Basic; "
            "private_key_jwt: an RFC 7523 client assertion signed with the private key, as "
            "HelseID requires"
        ),
    ] = RecordSystemAuth.CLIENT_SECRET_BASIC
    client_secret_ref: Annotated[
        SecretRef | None, Field(description="with client_secret_basic: the file of the secret")
    ] = None
    client_assertion_key_ref: Annotated[
        SecretRef | None,
        Field(
            description="with private_key_jwt: the file of the private JWK (RSA of 2048 bits "
            "or more, or EC P-256; alg RS256, PS256 or ES256) the assertion is signed with"
        ),
    ] = None
    dpop: Annotated[
        StrictBool,
        Field(description="tokens bound to a key of the service's, sent with a DPoP proof"),
    ] = False
    scope: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class PracticeIn(Strict):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Field(json_schema_extra={"pattern": NOT_BLANK}),
    ]
    decline_message: Annotated[
        MessageBody | None,
        Field(
            description="the patient's closing message when a clinician declines; "
            "without it the service's default tells them to book an appointment"
        ),
    ] = None
    webhook: Annotated[
        PracticeWebhookIn | None,
        Field(description="the practice's own webhook; without it, the service-wide one"),
    ] = None
    record_system: Annotated[
        PracticeRecordSystemIn | None,
        Field(description="the practice's own record system; without it, the service-wide one"),
    ] = None
    accepts_econsultations: Annotated[
        StrictBool,
        Field(
            description="false: the practice takes no new e-consultations for any of its "
            "clinicians (open ones go on); read at each create"
        ),
    ] = True
    closed_days: Annotated[
        list[date],
        Field(
            max_length=1000,
            description="days the practice is closed: not working days for every reply "
            "deadline computed after this PUT answered; deadlines already running do not move",
        ),
    ] = []


class PracticeOut(BaseModel):
    practice_id: str
    name: str
    decline_message: str | None
    accepts_econsultations: bool
    closed_days: list[date]
    webhook: PracticeWebhook | None = None
    record_system: PracticeRecordSystem | None = None
