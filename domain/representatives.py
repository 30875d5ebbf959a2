"""Who may write on a patient's behalf, and how the journal names them; pure, no I/O."""

from __future__ import annotations

from datetime import date

from domain.copayment import is_under_16
from domain.models import Patient, Representative, RepresentativeRelation


def representative_refusal(
    patient: Patient, representative: Representative | None, on_day: date
) -> str | None:
    """Why `representative` may not write for `patient` on `on_day` (Oslo), or None.

    A parent represents a child under 16 only; a guardian or a power of attorney at any age.
    """
    if representative is None or representative.relation != RepresentativeRelation.PARENT:
        return None
    if is_under_16(patient.birth_date, on_day):
        return None
    return (
        f"a parent may write only for a patient under 16; patient {patient.id} "
        f"is 16 or older on {on_day.isoformat()}"
    )


def on_behalf_text(patient_id: str, representative: Representative | None, body: str) -> str:
    """Journal text: who wrote on whose behalf, then the message."""
    if representative is None:
        return body
    relation = representative.relation.value.replace("_", " ")
    return (
        f"Written by {representative.id} ({relation}) on behalf of patient {patient_id}.\n\n{body}"
    )
