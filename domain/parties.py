"""The parties' models: the patient with their co-payment exemption, and who may write on
their behalf. Pure data; the rules on them are in domain/representatives.py and
domain/copayment.py."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import StringConstraints, model_validator

from domain.base import _NOT_BLANK_SCHEMA, Identifier, Model

# --- co-payment exemptions -----------------------------------------------------------------


class ExemptionCode(StrEnum):
    """Why a patient pays no co-payment, recorded on the charge (docs/copayment.md)."""

    UNDER_AGE = "under_age"
    FRIKORT = "frikort"
    PSYCHOTHERAPY_UNDER_18 = "psychotherapy_under_18"
    OCCUPATIONAL_INJURY = "occupational_injury"
    MILITARY_SERVICE = "military_service"
    PREGNANCY_CHECKUP = "pregnancy_checkup"
    NOTIFIABLE_INFECTIOUS_DISEASE = "notifiable_infectious_disease"
    VIOLENCE_OR_ABUSE = "violence_or_abuse"
    OTHER = "other"


EXEMPTION_CODES = frozenset(code.value for code in ExemptionCode)

# The clinician's word with a billable message on the patient's claimed code: "none"
# overrules it (the patient pays, unless their age or a frikort exempts them).
NO_EXEMPTION: Final = "none"
# A code (confirming or replacing the patient's claim), or "none" (overruling it).
ClinicianExemption = ExemptionCode | Literal["none"]
MAX_EXEMPTION_NOTE_CHARS = 200

ExemptionNote = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_EXEMPTION_NOTE_CHARS),
    _NOT_BLANK_SCHEMA,
]


def exemption_note_refusal(code: ClinicianExemption | None, note: str | None) -> str | None:
    """Why a code and a note do not go together, or None: `other` needs a note saying what
    the exemption is, and only `other` takes one (a note beside another code would be lost).

    The API refuses such a pair (422); the domain models accept what they are given, so that
    no payload already recorded in a history fails to decode.
    """
    if code == ExemptionCode.OTHER and note is None:
        return "exemption 'other' needs an exemption_note saying what the exemption is"
    if note is not None and code != ExemptionCode.OTHER:
        return "exemption_note is only taken with exemption 'other'"
    return None


def frikort_period_refusal(valid_from: date, valid_to: date) -> str | None:
    """Why a frikort period cannot be recorded, or None: it ends before it starts, or it runs
    into another calendar year (a frikort lasts the rest of the year it is granted in, and the
    next year's is earned anew; docs/copayment.md gives the source)."""
    if valid_to < valid_from:
        return "valid_to must not be before valid_from"
    if valid_to.year != valid_from.year:
        return (
            "a frikort period lies within one calendar year: valid_from and valid_to must be "
            f"in the same year (a frikort from {valid_from.year} ends by "
            f"{date(valid_from.year, 12, 31).isoformat()})"
        )
    return None


# --- parties ---------------------------------------------------------------------------


class Patient(Model):
    id: Identifier
    birth_date: date
    frikort: bool = False
    exemption: ExemptionCode | None = None
    # What the exemption is, with `other` only.
    exemption_note: ExemptionNote | None = None

    @model_validator(mode="before")
    @classmethod
    def _free_text_exemption(cls, data: object) -> object:
        """Before exemptions were codes, the portal sent free text: it reads as `other` with
        the text as its note (a blank text as no exemption), so older histories replay."""
        if not isinstance(data, dict):
            return data
        given = data.get("exemption")
        if not isinstance(given, str) or given in EXEMPTION_CODES:
            return data
        text = given.strip()
        if not text:
            return {**data, "exemption": None}
        if text in EXEMPTION_CODES:
            return {**data, "exemption": text}
        return {
            **data,
            "exemption": ExemptionCode.OTHER.value,
            "exemption_note": data.get("exemption_note") or text[:MAX_EXEMPTION_NOTE_CHARS],
        }


class RepresentativeRelation(StrEnum):
    PARENT = "parent"
    # Refused for new messages (domain/representatives.py); kept so stored ones still read.
    GUARDIAN = "guardian"
    POWER_OF_ATTORNEY = "power_of_attorney"
    # The nearest next of kin of a patient lacking the competence to consent.
    NEXT_OF_KIN = "next_of_kin"


class RepresentativeRef(Model):
    """Who wrote on the patient's behalf, as a stored message names them (no birth date)."""

    id: Identifier
    relation: RepresentativeRelation


class Representative(RepresentativeRef):
    """Someone who writes for the patient (a parent, a next of kin, a power of attorney)."""

    # Required for a power of attorney and a next of kin (both must be 18 or older); the rules
    # are in domain/representatives.py.
    birth_date: date | None = None
