"""Exemptions are codes; free text sent or recorded before the codes reads as `other`."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.parties import EXEMPTION_CODES, ExemptionCode, Patient, exemption_note_refusal


def patient(**fields: Any) -> Patient:
    return Patient.model_validate({"id": "p-1", "birth_date": date(1980, 1, 1)} | fields)


def test_the_codes_are_exactly_these() -> None:
    assert [code.value for code in ExemptionCode] == [
        "under_age",
        "frikort",
        "psychotherapy_under_18",
        "occupational_injury",
        "military_service",
        "pregnancy_checkup",
        "notifiable_infectious_disease",
        "violence_or_abuse",
        "other",
    ]


def test_free_text_from_before_the_codes_reads_as_other_with_the_text_as_note() -> None:
    legacy = patient(exemption=" pregnancy ")
    assert (legacy.exemption, legacy.exemption_note) == (ExemptionCode.OTHER, "pregnancy")


def test_a_blank_free_text_reads_as_no_exemption() -> None:
    assert patient(exemption="   ").exemption is None


def test_free_text_that_is_a_code_reads_as_that_code() -> None:
    legacy = patient(exemption=" frikort")
    assert (legacy.exemption, legacy.exemption_note) == (ExemptionCode.FRIKORT, None)


def test_a_recorded_payload_round_trips() -> None:
    given_ = patient(exemption="other", exemption_note="war injury")
    assert Patient.model_validate_json(given_.model_dump_json()) == given_


@given(text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip() != ""))
def test_any_free_text_reads_as_a_code_and_keeps_what_it_said(text: str) -> None:
    legacy = patient(exemption=text)
    if text.strip() in EXEMPTION_CODES:
        assert legacy.exemption == ExemptionCode(text.strip())
    else:
        assert legacy.exemption == ExemptionCode.OTHER
        assert legacy.exemption_note == text.strip()


def test_a_note_longer_than_200_characters_is_refused() -> None:
    with pytest.raises(ValidationError):
        patient(exemption="other", exemption_note="x" * 201)


@pytest.mark.parametrize(
    ("code", "note", "refused"),
    [
        (ExemptionCode.OTHER, "in prison", False),
        (ExemptionCode.OTHER, None, True),
        (ExemptionCode.FRIKORT, "a note", True),
        (None, "a note", True),
        (ExemptionCode.FRIKORT, None, False),
        (None, None, False),
    ],
)
def test_a_note_goes_with_other_and_other_needs_a_note(
    code: ExemptionCode | None, note: str | None, refused: bool
) -> None:
    assert (exemption_note_refusal(code, note) is not None) == refused
