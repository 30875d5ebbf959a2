"""Who may write on a patient's behalf, and how the journal names them; pure, no I/O.

The rules, judged on the Oslo day of each message (docs/parties.md gives the sources):
- a parent writes for a child under 12 only;
- a power of attorney is given by a patient aged 16 or more to a holder aged 18 or more,
  so none exists for a child, and its holder's birth date must be given;
- the nearest next of kin writes for a patient aged 12 or more who lacks the competence to
  consent, and must be 18 or more; their birth date must be given;
- guardianship is no longer a basis: a new message from a `guardian` is refused. A message
  already taken from one keeps the rule it was taken under (an adult, or a child under 12),
  so the workflow's checks of recorded commands decide as they did when the history was made.
"""

from __future__ import annotations

from datetime import date

from domain.ages import is_younger_than
from domain.parties import Patient, Representative, RepresentativeRelation

PARENT_ACTS_UNDER = 12
POWER_OF_ATTORNEY_GIVER_FROM = 16
POWER_OF_ATTORNEY_HOLDER_FROM = 18
NEXT_OF_KIN_FOR_PATIENT_FROM = 12
NEXT_OF_KIN_HOLDER_FROM = 18
ADULT_FROM = 18

GUARDIAN_RETIRED = (
    "guardianship is no longer a basis for writing on a patient's behalf; the nearest next "
    "of kin of a patient lacking the competence to consent is (relation next_of_kin)"
)


def representative_refusal(
    patient: Patient,
    representative: Representative | None,
    on_day: date,
    *,
    recorded: bool = False,
) -> str | None:
    """Why `representative` may not write for `patient` on `on_day` (Oslo), or None.

    `recorded`: the command was taken before (the workflow checks it again under its lock and
    on replay), so a `guardian` is judged by the rule it was taken under; a new message from a
    guardian is refused. The refusal names the rule and the day it was judged on.
    """
    if representative is None:
        return None
    if representative.relation == RepresentativeRelation.GUARDIAN and not recorded:
        broken: str | None = GUARDIAN_RETIRED
    else:
        broken = _broken_rule(patient.birth_date, representative, on_day)
    return f"{broken} (judged on {on_day.isoformat()})" if broken else None


def _broken_rule(born: date, representative: Representative, on_day: date) -> str | None:
    child_under_12 = is_younger_than(born, PARENT_ACTS_UNDER, on_day)
    match representative.relation:
        case RepresentativeRelation.PARENT:
            if child_under_12:
                return None
            return (
                f"a parent may write only for a child under {PARENT_ACTS_UNDER}; "
                f"the patient is {PARENT_ACTS_UNDER} or older"
            )
        case RepresentativeRelation.GUARDIAN:
            if child_under_12 or not is_younger_than(born, ADULT_FROM, on_day):
                return None
            return (
                f"a guardian may write only for an adult ({ADULT_FROM} or older) or for a "
                f"child under {PARENT_ACTS_UNDER}; the patient is between "
                f"{PARENT_ACTS_UNDER} and {ADULT_FROM - 1}"
            )
        case RepresentativeRelation.POWER_OF_ATTORNEY:
            return _power_of_attorney_refusal(born, representative.birth_date, on_day)
        case RepresentativeRelation.NEXT_OF_KIN:
            return _next_of_kin_refusal(born, representative.birth_date, on_day)


def _power_of_attorney_refusal(born: date, holder_born: date | None, on_day: date) -> str | None:
    if holder_born is None:
        return "a power of attorney needs the holder's birth_date"
    if is_younger_than(born, POWER_OF_ATTORNEY_GIVER_FROM, on_day):
        return (
            f"a power of attorney is given only by a patient aged "
            f"{POWER_OF_ATTORNEY_GIVER_FROM} or more; none exists for a child"
        )
    if is_younger_than(holder_born, POWER_OF_ATTORNEY_HOLDER_FROM, on_day):
        return f"the holder of a power of attorney must be {POWER_OF_ATTORNEY_HOLDER_FROM} or older"
    return None


def _next_of_kin_refusal(born: date, holder_born: date | None, on_day: date) -> str | None:
    if holder_born is None:
        return "a next of kin needs their birth_date"
    if is_younger_than(born, NEXT_OF_KIN_FOR_PATIENT_FROM, on_day):
        return (
            f"a next of kin may write only for a patient aged {NEXT_OF_KIN_FOR_PATIENT_FROM} "
            f"or more; for a younger child the parents write"
        )
    if is_younger_than(holder_born, NEXT_OF_KIN_HOLDER_FROM, on_day):
        return f"a next of kin writing for a patient must be {NEXT_OF_KIN_HOLDER_FROM} or older"
    return None
