"""Request and response bodies of the HTTP API: strict on the way in, explicit on the way out."""

from __future__ import annotations

import re
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Literal, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from domain.base import MAX_ATTACHMENTS_PER_MESSAGE, NOT_BLANK, Identifier, MessageBody, PracticeId
from domain.models import AmountNok, ConsultationView, Copayment
from domain.parties import (
    ClinicianExemption,
    ExemptionCode,
    ExemptionNote,
    RepresentativeRelation,
    exemption_note_refusal,
)
from store.access import AccessRecord
from store.attachments import AttachmentMeta
from store.case_reads import ConsultationDetail, ConsultationSummary, MessageView
from store.directory import RelationKind
from store.recipients import Recipient

# RFC 3339 as the document's `format: date` and `format: date-time` mean it. Pydantic's lax mode
# would also take 0 or "0" as 1970-01-01, and a date-time's midnight as a date.
_FULL_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_AS_THE_DOCUMENT_SAYS = {
    datetime: (
        re.compile(
            _FULL_DATE + r"[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
        ),
        "a date-time is an RFC 3339 string, e.g. 2026-12-07T09:30:00Z",
    ),
    date: (re.compile(_FULL_DATE), "a date is a string YYYY-MM-DD"),
}


def _written_as_the_document_says(annotation: object, value: object) -> None:
    """Refuses a date (alone or in a list of dates) or date-time that is not the document's
    string. A value already of the type passes: models are also built in code from another
    model's dump."""
    if get_origin(annotation) is list and get_args(annotation) == (date,):
        if not isinstance(value, list):
            raise ValueError("a list of dates; a date is a string YYYY-MM-DD")
        for item in value:
            _written_as_the_document_says(date, item)
        return
    optional = get_origin(annotation) in (Union, UnionType)
    kinds = set(get_args(annotation)) if optional else {annotation}
    for kind, (pattern, rule) in _AS_THE_DOCUMENT_SAYS.items():
        if kind in kinds:
            if type(value) is not kind and not (
                isinstance(value, str) and pattern.fullmatch(value)
            ):
                raise ValueError(rule)
            return


class Strict(BaseModel):
    """Unknown fields are refused: a misspelt field is an error, not silently dropped. Dates
    and date-times are strings in the document's format, whatever else pydantic would take."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _dates_as_strings(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.field_name is not None:
            _written_as_the_document_says(cls.model_fields[info.field_name].annotation, value)
        return value


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("attachment ids must be distinct")
    return ids


AttachmentIds = Annotated[
    list[Identifier],
    Field(
        max_length=MAX_ATTACHMENTS_PER_MESSAGE,
        description="ids from POST /v1/attachments by the same caller, each at most once",
        # A list (the order is the message's), but the document says what _distinct checks.
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(_distinct),
]


def _integral_number(value: object) -> object:
    # JSON Schema's `integer` includes 5.0, so the document calls it valid: take it as 5.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- requests ------------------------------------------------------------------------------


# The pair rule in the document too, so clients (and the fuzzer) know a note goes with
# `other` only, and `other` needs one.
_NOTE_WITH_OTHER_ONLY: JsonDict = {
    "if": {"properties": {"exemption": {"const": "other"}}, "required": ["exemption"]},
    "then": {"required": ["exemption_note"], "properties": {"exemption_note": {"type": "string"}}},
    "else": {"properties": {"exemption_note": {"type": "null"}}},
}


class ClinicianExemptionIn(Strict):
    """The clinician's word on the exemption, with a billable message: a code confirms or
    replaces the patient's claimed one, `none` overrules it (the patient pays unless their
    age or a frikort exempts them), no `exemption` leaves the claim in force."""

    model_config = ConfigDict(json_schema_extra=_NOTE_WITH_OTHER_ONLY)

    exemption: ClinicianExemption | None = None
    exemption_note: Annotated[
        ExemptionNote | None, Field(description="what the exemption is; with `other` only")
    ] = None

    @model_validator(mode="after")
    def _note_goes_with_other(self) -> Self:
        if refusal := exemption_note_refusal(self.exemption, self.exemption_note):
            raise ValueError(refusal)
        return self


class ExemptionIn(ClinicianExemptionIn):
    """The patient's claimed exemption, passed by the portal at start: a code, and with
    `other` a note saying what it is."""

    exemption: ExemptionCode | None = None


class PatientIn(ExemptionIn):
    id: Identifier
    birth_date: date
    frikort: StrictBool = False


class MessageIn(Strict):
    body: MessageBody
    attachment_ids: AttachmentIds = []


class CreateConsultation(Strict):
    patient: PatientIn
    clinician_id: Identifier
    recipient_id: Identifier | None = None
    # Only `true` is accepted; the API answers `false` with a 422 that says why.
    copayment_accepted: Annotated[
        StrictBool,
        Field(
            description="the patient accepted the co-payment; must be true",
            json_schema_extra={"const": True},
        ),
    ]
    message: MessageIn | None = None
    representative: RepresentativeIn | None = None


class PatientMessageIn(MessageIn):
    """A patient's message (submit, follow-up), perhaps written by a representative."""

    representative: RepresentativeIn | None = None


class ClinicianReply(MessageIn, ClinicianExemptionIn):
    billable: StrictBool = True
    close: StrictBool = False


class CloseRequest(ClinicianExemptionIn):
    message: MessageIn | None = None
    billable: StrictBool = True
    # `declined`: not suited to an e-consultation; nothing is billed whatever `billable` says.
    reason: Literal["declined"] | None = None


class SubstituteIn(Strict):
    clinician_id: Identifier
    valid_from: date
    valid_to: date


class ClinicianIn(Strict):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Field(json_schema_extra={"pattern": NOT_BLANK}),
    ]
    practice_id: PracticeId
    accepts_econsultations: StrictBool
    reply_within_working_days: Annotated[
        int, Field(strict=True, ge=1, le=30), BeforeValidator(_integral_number)
    ]
    substitute: SubstituteIn | None
    specialist_in_general_practice: StrictBool = False
    absences: Annotated[list[AbsenceIn], Field(max_length=100)] = []


class FrikortIn(Strict):
    valid_from: date
    valid_to: date


# --- parties: relations, absences, representatives (requests and responses) ---


class RelationIn(Strict):
    kind: RelationKind
    valid_from: date
    valid_to: date | None = None


class RelationOut(RelationIn):
    patient_id: str
    clinician_id: str


class RecipientsOut(BaseModel):
    """Whom the patient may write to today ("choose the right clinician")."""

    patient_id: str
    items: list[Recipient]


class AbsenceIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    starts_on: date = Field(alias="from")
    ends_on: date = Field(alias="to")


class RepresentativeIn(Strict):
    id: Identifier
    relation: RepresentativeRelation
    birth_date: Annotated[
        date | None,
        Field(
            description="the representative's; required for a power_of_attorney and a "
            "next_of_kin (`guardian` is refused for new messages; stored ones still read)"
        ),
    ] = None


class WithdrawIn(Strict):
    """Who withdraws on the patient's behalf, if anyone; no body is the patient themselves."""

    representative: RepresentativeIn | None = None


class ReassignIn(Strict):
    recipient_id: Identifier
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        Field(json_schema_extra={"pattern": NOT_BLANK}),
    ]


# --- responses -----------------------------------------------------------------------------


# The store's read models are the answers; where the API shows them otherwise, it derives.
AttachmentOut = AttachmentMeta

# Every field of an answer is sent, defaults too: the document marks them all required.
ANSWER = ConfigDict(json_schema_serialization_defaults_required=True)


class CopaymentOut(Copayment):
    model_config = ANSWER

    amount_nok: AmountNok | None = None


class ConsultationSummaryOut(ConsultationSummary):
    """The store's summary as the API shows it: amounts as numbers, the practice not at all."""

    model_config = ANSWER

    practice_id: str = Field(exclude=True)
    copayment: CopaymentOut

    @classmethod
    def of(cls, summary: ConsultationSummary) -> Self:
        return cls.model_validate(summary, from_attributes=True)


class ConsultationOut(ConsultationSummaryOut):
    messages: list[MessageView] = []

    @classmethod
    def of_detail(cls, detail: ConsultationDetail) -> Self:
        return cls.model_validate(detail, from_attributes=True)

    @classmethod
    def of_view(cls, view: ConsultationView, messages: list[MessageView]) -> Self:
        """A command's answer: the case as the workflow answered it, with its thread."""
        case = view.model_dump(exclude={"consultation_id"})
        return cls.model_validate({**case, "id": view.consultation_id, "messages": messages})


class ConsultationPage(BaseModel):
    items: list[ConsultationSummaryOut]
    next_cursor: str | None


class AccessLogOut(BaseModel):
    consultation_id: str
    entries: list[AccessRecord]


class SubstituteOut(BaseModel):
    clinician_id: str
    name: str | None
    valid_from: date
    valid_to: date
    active: bool


class ClinicianOut(BaseModel):
    id: str
    name: str
    practice_id: str
    accepts_econsultations: bool
    reply_within_working_days: int
    substitute: SubstituteOut | None
    expected_reply_by: datetime | None
    specialist_in_general_practice: bool
    absences: list[AbsenceIn] = []


class FrikortOut(BaseModel):
    patient_id: str
    valid_from: date
    valid_to: date


CreateConsultation.model_rebuild()
PatientMessageIn.model_rebuild()
ClinicianIn.model_rebuild()
ClinicianOut.model_rebuild()


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str] = {}


class RedeliveryOut(BaseModel):
    """A redelivery started: the workflow that sends the item again, once."""

    kind: Literal["notification", "journal-entry"]
    key: str
    # How many times an operator has had this item sent again, this one included.
    redelivery: int
    workflow_id: str
